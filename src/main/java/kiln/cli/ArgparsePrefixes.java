package kiln.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Python argparse's abbreviations, so that SGLang's command lines work unchanged ({@code --num-prompt 10},
 * {@code --random-input 3200}): an exact option name wins; otherwise a long option given by a prefix of exactly
 * one option's name means that option; a prefix of several is an error listing them all. Option values are left
 * alone, with argparse's idea of what looks like an option (starts with '-', is no negative number, has no space).
 * Picocli's own abbreviation matching is not used: it also takes part-wise forms like {@code --ra-in} that
 * argparse rejects.
 */
public final class ArgparsePrefixes {
    private static final Pattern NEGATIVE_NUMBER = Pattern.compile("^-\\d+$|^-\\d*\\.\\d+$");

    /** A prefix that fits several options; the message is argparse's. */
    public static final class AmbiguousOptionException extends IllegalArgumentException {
        AmbiguousOptionException(String given, List<String> candidates) {
            super("ambiguous option: " + given + " could match " + String.join(", ", candidates));
        }
    }

    private ArgparsePrefixes() {}

    /** {@code args} with every abbreviated option of {@code spec} written out in full. */
    public static List<String> expand(CommandSpec spec, List<String> args) {
        List<String> out = new ArrayList<>(args.size());
        for (int i = 0; i < args.size(); ) {
            String a = args.get(i++);
            if (a.equals("--")) {
                out.add(a);
                out.addAll(args.subList(i, args.size()));
                break;
            }
            if (!looksLikeOption(a)) {
                out.add(a);
                continue;
            }
            int eq = a.startsWith("--") ? a.indexOf('=') : -1;
            String name = eq > 0 ? a.substring(0, eq) : a;
            OptionSpec option = spec.findOption(name) != null && hasName(spec.findOption(name), name) ? spec.findOption(name) : null;
            if (option == null && name.startsWith("--")) {
                List<String> candidates = new ArrayList<>();
                OptionSpec match = null;
                for (OptionSpec o : spec.options()) {
                    for (String n : o.names()) {
                        if (n.startsWith("--") && n.startsWith(name)) {
                            candidates.add(n);
                            match = o;
                        }
                    }
                }
                if (candidates.size() > 1) throw new AmbiguousOptionException(name, candidates);
                if (candidates.size() == 1) {
                    option = match;
                    name = candidates.getFirst();
                }
            }
            out.add(eq > 0 ? name + a.substring(eq) : name);
            if (option == null || eq > 0 || option.typeInfo().isBoolean()) continue;
            int min = Math.max(option.arity().min(), 0);
            int max = option.arity().isVariable() ? Integer.MAX_VALUE : option.arity().max();
            int taken = 0;
            while (taken < min && i < args.size()) {
                out.add(args.get(i++));
                taken++;
            }
            while (taken < max && i < args.size() && !looksLikeOption(args.get(i))) {
                out.add(args.get(i++));
                taken++;
            }
        }
        return out;
    }

    private static boolean hasName(OptionSpec o, String name) {
        for (String n : o.names()) if (n.equals(name)) return true;
        return false;
    }

    /** argparse's test: '-' first, not just "-", no negative number, no space. */
    static boolean looksLikeOption(String a) {
        return a.length() > 1 && a.charAt(0) == '-' && !NEGATIVE_NUMBER.matcher(a).matches() && a.indexOf(' ') < 0;
    }
}
