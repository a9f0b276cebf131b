package kiln.engine;

import kiln.grammar.GrammarMatcher;

import java.util.List;

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
    private final int startAfter;
    private final long[] mask;
    private boolean started;

    GrammarState(Constraint c) {
        this.matcher = c.grammar().newMatcher();
        this.startAfter = c.startAfterToken();
        this.mask = new long[c.grammar().maskWords()];
        this.started = startAfter < 0;
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
            if (token == startAfter) started = true;
            return Step.ON;
        }
        if (stopToken && matcher.canTerminate()) return Step.ENDED;
        if (!matcher.accept(token)) return Step.REFUSED;
        return matcher.isTerminated() ? Step.ENDED : Step.ON;
    }
}
