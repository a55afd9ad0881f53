// The text of anything thrown: an Error's message, or the value itself as a string (a rejected
// promise may carry anything).
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
