package kiln.engine;

/**
 * What a caller asks the engine for: a prompt as token ids and how to sample its continuation(s).
 *
 * @param priority SGLang's request priority, or null for none; only an engine with priority scheduling takes one
 *                 ({@link EngineConfig.PriorityScheduling})
 */
public record Request(String id, int[] promptIds, SamplingParams params, Integer priority) {
    public Request {
        if (promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty");
    }

    public Request(String id, int[] promptIds, SamplingParams params) {
        this(id, promptIds, params, null);
    }
}
