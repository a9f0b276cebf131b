package kiln.engine;

import java.util.List;

/**
 * One event of a request's stream: new tokens of sample {@code index} (of n), their text when the engine has a
 * tokenizer, logprobs when asked, and usage so far. The last event of a sample carries its finish reason.
 * {@code promptLogprobs} is set on a sample's first event when prompt logprobs were asked for.
 */
public record Output(String requestId, int index, int[] tokenIds, String text, List<TokenLogprob> logprobs,
                     List<TokenLogprob> promptLogprobs, FinishReason finish, int promptTokens, int completionTokens,
                     int cachedTokens) {

    public boolean finished() {
        return finish != null;
    }

    /** A token's logprob (null for a prompt's first token) and, when asked, the most likely alternatives. */
    public record TokenLogprob(int tokenId, Float logprob, int[] topIds, float[] topLogprobs) {}

    /**
     * Why a sample ended: "stop" (EOS, a stop token, or a stop string: {@code matched}), "length", or "abort"
     * (cancelled, or an error the message describes).
     */
    public record FinishReason(String type, Object matched, String message) {
        public static FinishReason length() {
            return new FinishReason("length", null, null);
        }

        public static FinishReason stop(Object matched) {
            return new FinishReason("stop", matched, null);
        }

        public static FinishReason abort(String message) {
            return new FinishReason("abort", null, message);
        }
    }
}
