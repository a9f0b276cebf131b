package kiln.server;

import java.util.Locale;
import java.util.Set;

/**
 * Keeps web pages from driving the server through a visitor's browser, with or without an API key:
 * <ul>
 * <li>A request that carries an {@code Origin} (every browser sends one on cross-origin requests and on POSTs) is
 * refused with 403 unless the origin is in {@code --allowed-origins} (or that list is {@code *}); for allowed origins
 * this is the CORS policy, preflights included. With no {@code --allowed-origins} no origin is allowed: Kiln serves
 * no pages of its own, so no browser request is its own.</li>
 * <li>A request a browser marks as coming from another site ({@code Sec-Fetch-Site: cross-site} or
 * {@code same-site}) without an allowed origin is refused too: that covers the no-cors GETs (an image tag on
 * /flush_cache) that carry no {@code Origin}.</li>
 * <li>A request with a body must say {@code Content-Type: application/json} (415 otherwise): HTML forms and
 * {@code text/plain} fetches, the requests a page may send without a CORS preflight, never do.</li>
 * <li>When the server listens on loopback only, the {@code Host} must be a loopback name: a page whose domain
 * was rebound to 127.0.0.1 still sends its own domain as the Host. The wildcard addresses {@code 0.0.0.0} and
 * {@code ::} count as loopback names: connecting to them reaches this machine, SGLang's bench_serving uses
 * {@code 0.0.0.0} by default, and a page that names them is a cross-origin request, refused by the rules above.
 * A request with no Host (HTTP/1.0 clients may leave it out) is served: browsers always send one.</li>
 * </ul>
 * Clients that are not browsers (curl, the OpenAI SDKs, SGLang's tools) send none of these headers and are not
 * affected, except that their bodies must be labelled JSON, as SGLang requires on its OpenAI routes.
 */
final class BrowserPolicy implements Routes.Filter {
    private static final String METHODS = "GET, POST, PUT, OPTIONS";
    private final Set<String> allowedOrigins;
    private final boolean loopbackOnly;

    /** @param allowedOrigins origins as browsers write them ({@code https://app.example:8443}), or {@code *} */
    BrowserPolicy(Set<String> allowedOrigins, boolean loopbackOnly) {
        this.allowedOrigins = Set.copyOf(allowedOrigins);
        this.loopbackOnly = loopbackOnly;
    }

    static boolean isLoopbackBind(String host) {
        String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        return h.equals("localhost") || h.startsWith("127.") || h.equals("::1");
    }

    @Override
    public boolean admit(ServerRequest req, ServerResponse res) {
        if (loopbackOnly) {
            String host = orEmpty(req.header("Host"));
            String name = hostName(host);
            // no Host at all (HTTP/1.0 allows it) is not a browser, which always sends one: nothing to rebind
            if (!host.isEmpty() && !isLoopbackBind(name) && !name.equals("0.0.0.0") && !name.equals("::")) {
                return refuse(res, 403, "the Host header '" + host + "' does not name this machine's loopback interface, which is "
                        + "the only one the server listens on (a defence against DNS rebinding); send Host: localhost, or "
                        + "start the server with --host to listen elsewhere", "host_not_allowed");
            }
        }
        String origin = req.header("Origin");
        boolean allowed = origin != null && (allowedOrigins.contains("*") || allowedOrigins.contains(origin));
        if (origin != null && !allowed) {
            return refuse(res, 403, "cross-origin requests from " + origin + " are not allowed; start the server with "
                    + "--allowed-origins " + origin + " to allow them", "origin_not_allowed");
        }
        String site = orEmpty(req.header("Sec-Fetch-Site")).toLowerCase(Locale.ROOT);
        if (!allowed && (site.equals("cross-site") || site.equals("same-site"))) {
            return refuse(res, 403, "requests a browser sends on behalf of another site are not allowed (Sec-Fetch-Site: "
                    + site + "); see --allowed-origins", "origin_not_allowed");
        }
        if (allowed) {
            res.header("Access-Control-Allow-Origin", allowedOrigins.contains("*") ? "*" : origin);
            res.header("Vary", "Origin");
            if (req.method().equals("OPTIONS") && req.hasHeader("Access-Control-Request-Method")) {
                res.header("Access-Control-Allow-Methods", METHODS);
                String asked = req.header("Access-Control-Request-Headers");
                res.header("Access-Control-Allow-Headers", asked != null ? asked : "Content-Type, Authorization");
                res.header("Access-Control-Max-Age", "600");
                res.status(204).send();
                return false;
            }
        }
        String m = req.method();
        if ((m.equals("POST") || m.equals("PUT")) && req.hasBody() && !isJson(req)) {
            String type = req.header("Content-Type");
            return refuse(res, 415, "the request body must be JSON sent with Content-Type: application/json (got "
                    + (type != null ? type : "no Content-Type") + ")", "unsupported_media_type");
        }
        return true;
    }

    private static String orEmpty(String header) {
        return header == null ? "" : header;
    }

    private static boolean isJson(ServerRequest req) {
        String type = orEmpty(req.header("Content-Type"));
        int semi = type.indexOf(';');
        return (semi < 0 ? type : type.substring(0, semi)).trim().equalsIgnoreCase(Http.JSON);
    }

    /** The name part of a Host header: {@code [::1]:30000} gives {@code ::1}, {@code localhost:30000} gives {@code localhost}. */
    static String hostName(String host) {
        if (host.startsWith("[")) {
            int end = host.indexOf(']');
            return end < 0 ? host : host.substring(1, end);
        }
        int colon = host.indexOf(':');
        return (colon < 0 ? host : host.substring(0, colon)).toLowerCase(Locale.ROOT);
    }

    private static boolean refuse(ServerResponse res, int status, String message, String code) {
        Http.sendError(res, new ApiException(status, "invalid_request_error", message, null, code, null));
        return false;
    }
}
