package kiln.engine;

import kiln.tokenizer.IncrementalDetokenizer;
import kiln.tokenizer.Tokenizer;

import java.util.List;

/**
 * The text of one sample as it streams: decoded incrementally, with stop strings matched across token boundaries.
 * While a stop string could still be forming, its possible start is held back, so the text handed out never
 * contains any part of a matched stop string.
 */
final class TextStream {
    private final IncrementalDetokenizer detokenizer;
    private final List<String> stops;
    private final int holdBack;
    private final StringBuilder pending = new StringBuilder();
    private String matched;

    TextStream(Tokenizer tokenizer, SamplingParams params) {
        this.detokenizer = tokenizer.newDetokenizer(params.skipSpecialTokens());
        this.stops = params.stop();
        this.holdBack = stops.stream().mapToInt(String::length).max().orElse(1) - 1;
    }

    /** Adds a token; returns the text now safe to hand out. Check {@link #matchedStop} afterwards. */
    String add(int token) {
        pending.append(detokenizer.next(token));
        if (!stops.isEmpty()) {
            int at = -1;
            for (String s : stops) {
                int i = pending.indexOf(s);
                if (i >= 0 && (at < 0 || i < at)) {
                    at = i;
                    matched = s;
                }
            }
            if (at >= 0) {
                String out = pending.substring(0, at);
                pending.setLength(0);
                return out;
            }
        }
        int cut = pending.length() - holdBack;
        if (cut > 0 && Character.isHighSurrogate(pending.charAt(cut - 1))) cut--;
        if (cut <= 0) return "";
        String out = pending.substring(0, cut);
        pending.delete(0, cut);
        return out;
    }

    /** The stop string the text ran into, or null. */
    String matchedStop() {
        return matched;
    }

    /** Everything still held back (the sample has ended without meeting a stop string). */
    String finish() {
        if (matched != null) return "";
        pending.append(detokenizer.finish());
        String out = pending.toString();
        pending.setLength(0);
        return out;
    }
}
