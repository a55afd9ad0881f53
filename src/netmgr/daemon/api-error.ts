// An error of the daemon's HTTP API: the status, the message, and the request field at fault.
// The server throws it to answer; the client rebuilds it from the answer.
import { PodnetError } from "../../util/errors.js";
export class ApiError extends PodnetError {
  override name = "ApiError";
  readonly code = "PODNET_API";
  readonly status: number;
  readonly field: string | undefined;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.status = status;
    this.field = field;
  }
}
