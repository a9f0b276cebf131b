package kiln.engine;

/** What a caller asks the engine for: a prompt as token ids and how to sample its continuation(s). */
public record Request(String id, int[] promptIds, SamplingParams params) {
    public Request {
        if (promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty");
    }
}
