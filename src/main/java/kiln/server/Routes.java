package kiln.server;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The routing table: filters that every request passes first (the browser policy, the API key), then one route per
 * method and path. A path may end in {@code {+name}}, which matches the rest of the path (slashes included). A
 * known path asked with another method is a 405, anything else a 404, both with the OpenAI error body.
 */
final class Routes {
    /** Runs before any route; answers (and returns false) to stop the request, or returns true to let it on. */
    @FunctionalInterface
    interface Filter {
        boolean admit(ServerRequest req, ServerResponse res);
    }

    private record Prefixed(String prefix, String parameter, Map<String, Http.Route> byMethod) {}

    private final List<Filter> filters = new ArrayList<>();
    private final Map<String, Map<String, Http.Route>> exact = new LinkedHashMap<>();
    private final List<Prefixed> prefixed = new ArrayList<>();
    private final Http.Route unmatched = Http.guarded(this::unmatched);

    void filter(Filter f) {
        filters.add(f);
    }

    void get(String path, Http.Route route) {
        add("GET", path, route);
    }

    void post(String path, Http.Route route) {
        add("POST", path, route);
    }

    void put(String path, Http.Route route) {
        add("PUT", path, route);
    }

    private void add(String method, String path, Http.Route route) {
        int brace = path.indexOf("{+");
        if (brace < 0) {
            exact.computeIfAbsent(path, p -> new LinkedHashMap<>()).put(method, route);
            return;
        }
        String prefix = path.substring(0, brace), parameter = path.substring(brace + 2, path.length() - 1);
        for (Prefixed p : prefixed) {
            if (p.prefix.equals(prefix)) {
                p.byMethod.put(method, route);
                return;
            }
        }
        Map<String, Http.Route> byMethod = new LinkedHashMap<>();
        byMethod.put(method, route);
        prefixed.add(new Prefixed(prefix, parameter, byMethod));
    }

    void handle(ServerRequest req, ServerResponse res) throws Exception {
        for (Filter f : filters) {
            if (!f.admit(req, res)) return;
        }
        String path = req.path();
        Map<String, Http.Route> byMethod = exact.get(path);
        if (byMethod == null) {
            for (Prefixed p : prefixed) {
                if (path.length() > p.prefix.length() && path.startsWith(p.prefix)) {
                    req.pathParameter(p.parameter, path.substring(p.prefix.length()));
                    byMethod = p.byMethod;
                    break;
                }
            }
        }
        Http.Route route = byMethod == null ? null : byMethod.get(req.method());
        (route != null ? route : unmatched).handle(req, res);
    }

    private void unmatched(ServerRequest req, ServerResponse res) {
        String path = req.path();
        if (req.hasBody()) res.header("Connection", "close");  // its body stays unread (see Auth)
        if (exact.containsKey(path)) {
            throw new ApiException(405, "invalid_request_error", req.method() + " is not allowed on " + path, null,
                    "method_not_allowed", null);
        }
        throw ApiException.notFound("no route " + req.method() + " " + path + " (see docs/server.md)", "not_found");
    }
}
