package kiln.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * {@code --api-key}: every route but health and metrics needs {@code Authorization: Bearer <key>}. Keys are
 * compared as SHA-256 digests with {@link MessageDigest#isEqual}, so the time taken says nothing about the key,
 * not even its length.
 */
final class Auth implements Routes.Filter {
    private final byte[] expected;

    Auth(String apiKey) {
        this.expected = digest(apiKey);
    }

    static boolean open(String path) {
        return path.startsWith("/health") || path.equals("/metrics");
    }

    @Override
    public boolean admit(ServerRequest req, ServerResponse res) {
        if (req.method().equals("OPTIONS") || open(req.path()) || authorized(req)) return true;
        res.header("WWW-Authenticate", "Bearer");
        // answered without reading the body (no unauthenticated upload is read): the connection cannot be reused,
        // and the client must know before it sends the next request on it
        if (req.hasBody()) res.header("Connection", "close");
        Http.sendError(res, ApiException.unauthorized());
        return false;
    }

    private boolean authorized(ServerRequest req) {
        String header = req.header("Authorization");
        if (header == null) header = "";
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
