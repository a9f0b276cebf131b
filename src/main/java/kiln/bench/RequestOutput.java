package kiln.bench;

/**
 * What one request measured, in seconds like sglang.bench_serving: {@code startTime} on the benchmark's clock,
 * {@code ttft} and {@code latency} from just before sending, {@code itl} one entry per later chunk (native API:
 * per token). {@code outputLen} is the server's count, else the requested length.
 */
public record RequestOutput(boolean success, String generatedText, double latency, double ttft, double[] itl,
                            int promptLen, int outputLen, String error, double startTime) {

    public static RequestOutput failure(int promptLen, String error, double startTime) {
        return new RequestOutput(false, "", 0, 0, new double[0], promptLen, 0, error, startTime);
    }
}
