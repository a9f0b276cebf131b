package kiln.tokenizer;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens ({@code <｜User｜>}, {@code <|im_end|>}, ...) in text before any BPE happens, the way HF's
 * AddedVocabulary does: leftmost match first, the longest one where several start at the same place, with the
 * {@code single_word}, {@code lstrip} and {@code rstrip} options. Matching walks a character trie, and positions
 * whose character starts no token are skipped by a table lookup, so plain text costs one array read per char.
 */
final class AddedTokens {
    /** A row of tokenizer.json's {@code added_tokens}. */
    record Token(int id, String content, boolean special, boolean normalized, boolean lstrip, boolean rstrip, boolean singleWord) {}

    /** Receives the text between matches. */
    interface TextHandler {
        void text(String text, int start, int end, IntList out);
    }

    private static final class Node {
        final Map<Character, Node> children = new HashMap<>(4);
        Token token;
    }

    private final Node root = new Node();
    private final boolean[] startsToken = new boolean[Character.MAX_VALUE + 1];
    private final boolean empty;

    AddedTokens(List<Token> tokens) {
        for (Token t : tokens) {
            if (t.content().isEmpty()) continue;
            Node n = root;
            for (int i = 0; i < t.content().length(); i++) n = n.children.computeIfAbsent(t.content().charAt(i), c -> new Node());
            n.token = t;
            startsToken[t.content().charAt(0)] = true;
        }
        empty = root.children.isEmpty();
    }

    /** Appends the ids of the tokens found in {@code text} to {@code out}, and hands the text between to {@code plain}. */
    void split(String text, IntList out, TextHandler plain) {
        int n = text.length();
        if (empty) {
            if (n > 0) plain.text(text, 0, n, out);
            return;
        }
        int done = 0; // text before this is handled
        for (int i = 0; i < n; i++) {
            if (!startsToken[text.charAt(i)]) continue;
            Token match = null;
            int matchEnd = -1;
            Node node = root;
            for (int j = i; j < n; j++) {
                node = node.children.get(text.charAt(j));
                if (node == null) break;
                if (node.token != null && acceptable(node.token, text, i, j + 1)) {
                    match = node.token;
                    matchEnd = j + 1;
                }
            }
            if (match == null) continue;
            int start = i, end = matchEnd;
            if (match.lstrip()) while (start > done && Character.isWhitespace(text.charAt(start - 1))) start--;
            if (match.rstrip()) while (end < n && Character.isWhitespace(text.charAt(end))) end++;
            if (done < start) plain.text(text, done, start, out);
            out.add(match.id());
            done = end;
            i = end - 1;
        }
        if (done < n) plain.text(text, done, n, out);
    }

    /** {@code single_word} tokens only count where they do not touch a word character on either side. */
    private static boolean acceptable(Token t, String text, int start, int end) {
        if (!t.singleWord()) return true;
        return (start == 0 || !isWordChar(text.charAt(start - 1))) && (end == text.length() || !isWordChar(text.charAt(end)));
    }

    private static boolean isWordChar(char c) {
        if (c == '_' || Character.isLetterOrDigit(c)) return true;
        int type = Character.getType(c);
        return type == Character.NON_SPACING_MARK || type == Character.COMBINING_SPACING_MARK || type == Character.ENCLOSING_MARK;
    }
}
