package kiln.engine;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How one request samples and when it stops; defaults as SGLang's. {@code stop} strings need a tokenizer;
 * {@code skipSpecialTokens} leaves special tokens out of the streamed text. {@code topK} -1 (or 0) keeps every token;
 * {@code logprobStartLen} -1 asks for no prompt logprobs; {@code seed} null draws a fresh seed. {@code logitBias} adds
 * to single logits before sampling and logprobs (OpenAI's -100..100); {@code constraint} (null: none) restricts the
 * output to a grammar (structured output).
 */
public record SamplingParams(float temperature, float topP, int topK, float minP, float repetitionPenalty,
                             float frequencyPenalty, float presencePenalty, Long seed, List<String> stop,
                             List<Integer> stopTokenIds, boolean ignoreEos, int maxNewTokens, int minNewTokens, int n,
                             boolean returnLogprob, int topLogprobsNum, int logprobStartLen,
                             boolean skipSpecialTokens, Map<Integer, Float> logitBias, Constraint constraint) {

    public SamplingParams {
        logitBias = logitBias == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(logitBias));
        stop = stop == null ? List.of() : List.copyOf(stop);
        stopTokenIds = stopTokenIds == null ? List.of() : List.copyOf(stopTokenIds);
        if (topK == 0) topK = -1;
    }

    public static SamplingParams greedy(int maxNewTokens) {
        return builder().temperature(0).maxNewTokens(maxNewTokens).build();
    }

    public boolean isGreedy() {
        return temperature <= 0 || topK == 1;
    }

    /** The first problem with these values, phrased for an API error (parameter name included), or null. */
    public String validate() {
        if (!(temperature >= 0)) return "temperature must be >= 0, got " + temperature;
        if (!(topP > 0 && topP <= 1)) return "top_p must be in (0, 1], got " + topP;
        if (topK < -1) return "top_k must be -1 (disabled) or >= 1, got " + topK;
        if (!(minP >= 0 && minP <= 1)) return "min_p must be in [0, 1], got " + minP;
        if (!(repetitionPenalty > 0 && repetitionPenalty <= 2)) return "repetition_penalty must be in (0, 2], got " + repetitionPenalty;
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) return "frequency_penalty must be in [-2, 2], got " + frequencyPenalty;
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) return "presence_penalty must be in [-2, 2], got " + presencePenalty;
        if (maxNewTokens < 0) return "max_new_tokens must be >= 0, got " + maxNewTokens;
        if (minNewTokens < 0 || minNewTokens > maxNewTokens) return "min_new_tokens must be in [0, max_new_tokens], got " + minNewTokens;
        if (n < 1 || n > 128) return "n must be in [1, 128], got " + n;
        if (topLogprobsNum < 0 || topLogprobsNum > 20) return "top_logprobs_num must be in [0, 20], got " + topLogprobsNum;
        if (logprobStartLen < -1) return "logprob_start_len must be >= -1, got " + logprobStartLen;
        for (String s : stop) if (s.isEmpty()) return "stop strings must not be empty";
        for (var e : logitBias.entrySet()) {
            if (e.getKey() < 0) return "logit_bias token id " + e.getKey() + " is negative";
            if (!(e.getValue() >= -100 && e.getValue() <= 100)) return "logit_bias values must be in [-100, 100], got " + e.getValue() + " for token " + e.getKey();
        }
        return null;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.temperature = temperature; b.topP = topP; b.topK = topK; b.minP = minP;
        b.repetitionPenalty = repetitionPenalty; b.frequencyPenalty = frequencyPenalty; b.presencePenalty = presencePenalty;
        b.seed = seed; b.stop = stop; b.stopTokenIds = stopTokenIds; b.ignoreEos = ignoreEos;
        b.maxNewTokens = maxNewTokens; b.minNewTokens = minNewTokens; b.n = n; b.returnLogprob = returnLogprob;
        b.topLogprobsNum = topLogprobsNum; b.logprobStartLen = logprobStartLen; b.skipSpecialTokens = skipSpecialTokens;
        b.logitBias = logitBias; b.constraint = constraint;
        return b;
    }

    public static final class Builder {
        private float temperature = 1, topP = 1, minP = 0, repetitionPenalty = 1, frequencyPenalty = 0, presencePenalty = 0;
        private int topK = -1, maxNewTokens = 128, minNewTokens = 0, n = 1, topLogprobsNum = 0, logprobStartLen = -1;
        private Long seed;
        private List<String> stop = List.of();
        private List<Integer> stopTokenIds = List.of();
        private boolean ignoreEos, returnLogprob, skipSpecialTokens = true;
        private Map<Integer, Float> logitBias = Map.of();
        private Constraint constraint;

        public Builder temperature(float v) { temperature = v; return this; }
        public Builder topP(float v) { topP = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder minP(float v) { minP = v; return this; }
        public Builder repetitionPenalty(float v) { repetitionPenalty = v; return this; }
        public Builder frequencyPenalty(float v) { frequencyPenalty = v; return this; }
        public Builder presencePenalty(float v) { presencePenalty = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder stop(List<String> v) { stop = v; return this; }
        public Builder stopTokenIds(List<Integer> v) { stopTokenIds = v; return this; }
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }
        public Builder maxNewTokens(int v) { maxNewTokens = v; return this; }
        public Builder minNewTokens(int v) { minNewTokens = v; return this; }
        public Builder n(int v) { n = v; return this; }
        public Builder returnLogprob(boolean v) { returnLogprob = v; return this; }
        public Builder topLogprobsNum(int v) { topLogprobsNum = v; return this; }
        public Builder logprobStartLen(int v) { logprobStartLen = v; return this; }
        public Builder skipSpecialTokens(boolean v) { skipSpecialTokens = v; return this; }
        public Builder logitBias(Map<Integer, Float> v) { logitBias = v; return this; }
        public Builder constraint(Constraint v) { constraint = v; return this; }

        public SamplingParams build() {
            return new SamplingParams(temperature, topP, topK, minP, repetitionPenalty, frequencyPenalty, presencePenalty,
                    seed, stop, stopTokenIds, ignoreEos, maxNewTokens, minNewTokens, n, returnLogprob, topLogprobsNum,
                    logprobStartLen, skipSpecialTokens, logitBias, constraint);
        }
    }
}
