// An error of the daemon's HTTP API: the status, the message, and the request field at fault.
// The server throws it to answer; the client rebuilds it from the answer.
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly field: string | undefined;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.status = status;
    this.field = field;
  }
}
