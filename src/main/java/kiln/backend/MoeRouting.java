package kiln.backend;

/**
 * How a token picks its experts. SIGMOID with a score bias and groups is DeepSeek-V3's noaux_tc: the bias
 * steers selection only, weights come from the unbiased scores. SOFTMAX is DeepSeek-V2's gate.
 */
public record MoeRouting(Scoring scoring, Method method, int experts, int topK, int groups, int topkGroups,
                         boolean normalize, float scalingFactor) {
    public enum Scoring {SIGMOID, SOFTMAX}

    /** GREEDY: top-k over all experts; GROUP_LIMITED: top-k within the best {@code topkGroups} groups. */
    public enum Method {GREEDY, GROUP_LIMITED}
}
