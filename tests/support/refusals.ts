/** How a service call was refused, as a client reads it (its error's code, field and message); null when it was not. */
export const refusalOf = (call: Promise<unknown>) =>
  call.then(
    () => null,
    (error: { code: string; field?: string; message: string }) => ({ code: error.code, field: error.field, message: error.message }),
  );
