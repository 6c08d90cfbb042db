// Recognises a unique-constraint violation from either SQL engine, so a race that slips past a
// service's own existence check still ends as a clean 409 rather than a 500.
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "23505";
}
