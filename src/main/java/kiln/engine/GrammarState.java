package kiln.engine;

import kiln.grammar.GrammarMatcher;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;

/**
 * One sample's place in its grammar (each n-sibling has its own): whether the grammar has begun (after the
 * reasoning, when it starts after a token), the matcher, and the mask of the next sample. The mask is filled on
 * the mask worker while the step's forward runs and read by the scheduler after joining it
 * ({@link StepConstraints}), so the matcher is used by one thread at a time with a happens-before hand-over.
 */
final class GrammarState {
    enum Step {
        /** The output goes on (under the grammar, or before it begins). */
        ON,
        /** The grammar is complete: the sample ends with "stop". */
        ENDED,
        /** The token was outside the grammar (it cannot be, as sampled under the mask): the sample is aborted. */
        REFUSED
    }

    private final GrammarMatcher matcher;
    private final long[] mask;
    /** The text that opens the grammar (null: it is open from the start) and the bytes of it seen so far. */
    private final byte[] trigger;
    private final IntFunction<byte[]> tokenBytes;
    private byte[] tail = new byte[0];
    private boolean started;

    /** @param tokenBytes a token's bytes, to find {@link Constraint#startAfter} in the output */
    GrammarState(Constraint c, IntFunction<byte[]> tokenBytes) {
        this.matcher = c.grammar().newMatcher();
        this.mask = new long[c.grammar().maskWords()];
        this.trigger = c.startAfter() == null ? null : c.startAfter().getBytes(StandardCharsets.UTF_8);
        this.tokenBytes = tokenBytes;
        this.started = trigger == null;
    }

    /** Whether the next sample is under the grammar (false while the model still reasons). */
    boolean active() {
        return started;
    }

    /**
     * The tokens the grammar allows next (on the mask worker); the request's stop tokens are allowed too where the
     * grammar may end, as EOS is.
     */
    long[] fillMask(List<Integer> stopTokenIds) {
        matcher.fillMask(mask);
        if (!stopTokenIds.isEmpty() && matcher.canTerminate()) {
            for (int id : stopTokenIds) if (id >= 0 && (id >>> 6) < mask.length) mask[id >>> 6] |= 1L << (id & 63);
        }
        return mask;
    }

    /** Feeds a sampled token (on the scheduler thread); {@code stopToken}: one of the request's stop_token_ids. */
    Step accept(int token, boolean stopToken) {
        if (!started) {
            started = completesTrigger(tokenBytes.apply(token));
            return Step.ON;
        }
        if (stopToken && matcher.canTerminate()) return Step.ENDED;
        if (!matcher.accept(token)) return Step.REFUSED;
        return matcher.isTerminated() ? Step.ENDED : Step.ON;
    }

    /** Whether the output, with this token's bytes added, now holds the trigger text; keeps what may start it later. */
    private boolean completesTrigger(byte[] token) {
        byte[] text = Arrays.copyOf(tail, tail.length + token.length);
        System.arraycopy(token, 0, text, tail.length, token.length);
        for (int i = 0; i + trigger.length <= text.length; i++) {
            if (Arrays.equals(text, i, i + trigger.length, trigger, 0, trigger.length)) return true;
        }
        tail = Arrays.copyOfRange(text, Math.max(0, text.length - (trigger.length - 1)), text.length);
        return false;
    }
}
