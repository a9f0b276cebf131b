package kiln.chat;

/**
 * A chat template that cannot render this request: a {@code raise_exception} in the template (e.g. "Conversation
 * roles must alternate") or a template error. The message is meant for the client, as an HTTP 400.
 */
public final class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message) {
        super(message);
    }
}
