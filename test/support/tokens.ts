// Test tokens.

/** A JWT (unsigned: the broker checks signatures, the agent only reads `exp`). */
export function jwt(expSeconds: number, sub = 'kafka-obs'): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub, exp: expSeconds })}.c2lnbmF0dXJl`;
}
