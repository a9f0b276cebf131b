package kiln.backend.cuda;

/** A failed CUDA driver or cuBLASLt call; the message names the call, its arguments that matter, and the error. */
public final class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
