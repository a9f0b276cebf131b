package kiln.chat;

/**
 * DeepSeek-R1's reasoning: everything up to {@code </think>} is reasoning, the rest the answer. R1's template ends
 * the prompt with {@code <think>\n}, so the output usually starts inside the reasoning; a leading {@code <think>} is
 * dropped when the model writes it anyway. Without {@code </think>} all of the output is reasoning (as in SGLang).
 * Both parts are stripped of surrounding whitespace, as SGLang's non-streaming parser does, and identically when
 * streaming: whitespace that may turn out to be trailing is held back.
 */
final class DeepSeekR1ReasoningParser implements ReasoningParser {
    static final String START = "<think>";
    static final String END = "</think>";

    private enum State { START, REASONING, ANSWER }

    private State state = State.START;
    private String buffer = "";
    private final Trimmer reasoning = new Trimmer();
    private final Trimmer answer = new Trimmer();

    @Override
    public Split feed(String piece) {
        buffer += piece;
        StringBuilder r = new StringBuilder(), c = new StringBuilder();
        if (state == State.START) {
            String lead = buffer.stripLeading();
            if (Markers.proper(lead, START) || lead.isEmpty()) return Split.NONE; // may still become <think>
            buffer = lead.startsWith(START) ? lead.substring(START.length()) : buffer;
            state = State.REASONING;
        }
        if (state == State.REASONING) {
            int end = buffer.indexOf(END);
            if (end < 0) {
                int safe = buffer.length() - Markers.partialSuffix(buffer, END);
                r.append(reasoning.push(buffer.substring(0, safe)));
                buffer = buffer.substring(safe);
                return new Split(r.toString(), "");
            }
            r.append(reasoning.push(buffer.substring(0, end)));
            reasoning.end();
            buffer = buffer.substring(end + END.length());
            state = State.ANSWER;
        }
        c.append(answer.push(buffer));
        buffer = "";
        return new Split(r.toString(), c.toString());
    }

    @Override
    public Split finish() {
        String r = switch (state) {
            case START, REASONING -> reasoning.push(buffer); // a partial "</think>" at the very end is reasoning text
            case ANSWER -> "";
        };
        buffer = "";
        reasoning.end();
        answer.end();
        return new Split(r, "");
    }
}
