package kiln.server;

import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.http.Status;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;

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
 * was rebound to 127.0.0.1 still sends its own domain as the Host.</li>
 * </ul>
 * Clients that are not browsers (curl, the OpenAI SDKs, SGLang's tools) send none of these headers and are not
 * affected, except that their bodies must be labelled JSON, as SGLang requires on its OpenAI routes.
 */
final class BrowserPolicy implements Filter {
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
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        if (loopbackOnly) {
            String host = req.headers().first(HeaderNames.HOST).orElse("");
            if (!isLoopbackBind(hostName(host))) {
                refuse(res, 403, "the Host header '" + host + "' does not name this machine's loopback interface, which is "
                        + "the only one the server listens on (a defence against DNS rebinding); send Host: localhost, or "
                        + "start the server with --host to listen elsewhere", "host_not_allowed");
                return;
            }
        }
        String origin = req.headers().first(HeaderNames.ORIGIN).orElse(null);
        boolean allowed = origin != null && (allowedOrigins.contains("*") || allowedOrigins.contains(origin));
        if (origin != null && !allowed) {
            refuse(res, 403, "cross-origin requests from " + origin + " are not allowed; start the server with "
                    + "--allowed-origins " + origin + " to allow them", "origin_not_allowed");
            return;
        }
        String site = req.headers().first(HeaderNames.create("Sec-Fetch-Site")).orElse("").toLowerCase(Locale.ROOT);
        if (!allowed && (site.equals("cross-site") || site.equals("same-site"))) {
            refuse(res, 403, "requests a browser sends on behalf of another site are not allowed (Sec-Fetch-Site: "
                    + site + "); see --allowed-origins", "origin_not_allowed");
            return;
        }
        if (allowed) {
            res.header("Access-Control-Allow-Origin", allowedOrigins.contains("*") ? "*" : origin);
            res.header("Vary", "Origin");
            if (req.prologue().method() == Method.OPTIONS && req.headers().contains(HeaderNames.create("Access-Control-Request-Method"))) {
                res.header("Access-Control-Allow-Methods", METHODS);
                res.header("Access-Control-Allow-Headers", req.headers().first(HeaderNames.create("Access-Control-Request-Headers"))
                        .orElse("Content-Type, Authorization"));
                res.header("Access-Control-Max-Age", "600");
                res.status(Status.NO_CONTENT_204).send();
                return;
            }
        }
        Method m = req.prologue().method();
        if ((m == Method.POST || m == Method.PUT) && req.content().hasEntity() && !isJson(req)) {
            refuse(res, 415, "the request body must be JSON sent with Content-Type: application/json (got "
                    + req.headers().first(HeaderNames.CONTENT_TYPE).orElse("no Content-Type") + ")", "unsupported_media_type");
            return;
        }
        chain.proceed();
    }

    private static boolean isJson(RoutingRequest req) {
        String type = req.headers().first(HeaderNames.CONTENT_TYPE).orElse("");
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

    private static void refuse(RoutingResponse res, int status, String message, String code) {
        Http.sendError(res, new ApiException(status, "invalid_request_error", message, null, code, null));
    }
}
