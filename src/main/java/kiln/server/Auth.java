package kiln.server;

import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * {@code --api-key}: every route but health and metrics needs {@code Authorization: Bearer <key>}. Keys are
 * compared as SHA-256 digests with {@link MessageDigest#isEqual}, so the time taken says nothing about the key,
 * not even its length.
 */
final class Auth implements Filter {
    private final byte[] expected;

    Auth(String apiKey) {
        this.expected = digest(apiKey);
    }

    static boolean open(String path) {
        return path.startsWith("/health") || path.equals("/metrics");
    }

    @Override
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        if (req.prologue().method() == Method.OPTIONS || open(req.path().path()) || authorized(req)) {
            chain.proceed();
            return;
        }
        res.header("WWW-Authenticate", "Bearer");
        Http.sendError(res, ApiException.unauthorized());
    }

    private boolean authorized(RoutingRequest req) {
        String header = req.headers().first(HeaderNames.AUTHORIZATION).orElse("");
        String key = header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : "";
        return MessageDigest.isEqual(digest(key), expected);
    }

    private static byte[] digest(String key) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
