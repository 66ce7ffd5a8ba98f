// Client authentication (RFC 6749 §2.3) serves the client and the verifier's introspection alike.
export * from "../oauth/client-auth.js";
