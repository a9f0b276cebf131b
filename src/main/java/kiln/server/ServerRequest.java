package kiln.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;

/**
 * A request as Kiln's routes see it: method, path, headers and the body, read once. It hides the HTTP server's own
 * types, so that route code does not change with the server underneath.
 */
final class ServerRequest {
    private final Request request;
    private final Runnable bodyRead;
    private final Map<String, String> pathParameters = new HashMap<>();

    /** @param bodyRead told when the body has been read (or failed to be): the request has fully arrived */
    ServerRequest(Request request, Runnable bodyRead) {
        this.request = request;
        this.bodyRead = bodyRead;
    }

    String method() {
        return request.getMethod();
    }

    /** The decoded path, without the query. */
    String path() {
        return request.getHttpURI().getDecodedPath();
    }

    /** The path as the client wrote it (for logs). */
    String rawPath() {
        return request.getHttpURI().getPath();
    }

    /** The first value of a header, or null. */
    String header(String name) {
        return request.getHeaders().get(name);
    }

    boolean hasHeader(String name) {
        return request.getHeaders().contains(name);
    }

    /** The Content-Length the client declared, or -1 (none, or a chunked body). */
    long declaredLength() {
        return request.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
    }

    /** Whether the request says it carries a body: a Content-Length above 0, or a Transfer-Encoding. */
    boolean hasBody() {
        return declaredLength() > 0 || request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING);
    }

    /** A parameter that the route's pattern matched ({@code /v1/models/{+id}}), or null. */
    String pathParameter(String name) {
        return pathParameters.get(name);
    }

    void pathParameter(String name, String value) {
        pathParameters.put(name, value);
    }

    /**
     * The whole body (empty when there is none). A body past {@link HttpEdge#MAX_PAYLOAD_BYTES} is a 413; one that
     * cannot be read (malformed chunked encoding, a connection that ended or timed out part-way) a 400.
     */
    byte[] body() {
        try {
            if (!hasBody()) return new byte[0];
            if (declaredLength() > HttpEdge.MAX_PAYLOAD_BYTES) throw HttpEdge.tooLarge();
            InputStream in = Content.Source.asInputStream(request);
            byte[] bytes = in.readNBytes((int) HttpEdge.MAX_PAYLOAD_BYTES + 1);
            if (bytes.length > HttpEdge.MAX_PAYLOAD_BYTES) throw HttpEdge.tooLarge();
            return bytes;
        } catch (IOException | RuntimeException e) {
            if (e instanceof ApiException api) throw api;
            throw new ApiException(400, "invalid_request_error", "the request body could not be read: malformed chunked "
                    + "encoding, or the body ended early", null, "malformed_body", null);
        } finally {
            bodyRead.run();
        }
    }
}
