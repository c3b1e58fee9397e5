// E-mail over SMTP with nodemailer: `smtp://` (STARTTLS when offered, or required with
// `?requireTLS=true`) and `smtps://` (implicit TLS), with the credentials in the URL. SMTP's own
// reply classes decide the outcome: 4xx is transient, 5xx permanent.

// nodemailer is loaded on first use, so relays without SMTP destinations start without it.
import type { SendContext } from "./destination.ts";
import type { Email } from "./email_api.ts";
import type { Outcome } from "./retry.ts";

/** Sends one e-mail over one connection, closed afterwards. Never throws. */
export async function sendSmtp(url: string, email: Email, context: SendContext): Promise<Outcome> {
  const { connectMs, totalMs } = context.timeouts;
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    url,
    connectionTimeout: connectMs,
    greetingTimeout: connectMs,
    socketTimeout: totalMs,
    dnsTimeout: connectMs,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const timeout = AbortSignal.timeout(totalMs);
  try {
    await transport.sendMail({
      from: email.from,
      to: email.to,
      ...(email.cc.length > 0 ? { cc: email.cc } : {}),
      subject: email.subject,
      text: email.text,
      html: email.html,
      messageId: `<${email.id}@hero-relay>`,
      signal: AbortSignal.any([context.signal, timeout]),
    });
    return { kind: "delivered", httpStatus: null };
  } catch (error) {
    if (timeout.aborted) {
      return { kind: "retry", httpStatus: null, error: `timed out after ${totalMs} ms` };
    }
    if (context.signal.aborted) {
      return { kind: "retry", httpStatus: null, error: "aborted: the relay is shutting down" };
    }
    return classifySmtp(error);
  } finally {
    transport.close();
  }
}

/**
 * SMTP's rules: a 4xx reply is transient and retried, as is a dropped or refused connection; a
 * 5xx reply is permanent, and a 5xx to AUTH (wrong credentials) means the destination must be
 * fixed. Errors are described by codes and the server's reply, never with the URL.
 */
export function classifySmtp(error: unknown): Outcome {
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    code?: unknown;
    responseCode?: unknown;
    response?: unknown;
  };
  const code = typeof e.code === "string" ? e.code : "";
  const reply = typeof e.responseCode === "number" ? e.responseCode : null;
  if (reply !== null) {
    const text = typeof e.response === "string" ? e.response.replace(/\s+/g, " ").trim() : "";
    const message = `SMTP ${text.startsWith(String(reply)) ? text : `${reply} ${text}`}`
      .slice(0, 240).trim();
    if (reply >= 500) {
      return code === "EAUTH"
        ? { kind: "gone", httpStatus: null, error: `authentication refused: ${message}` }
        : { kind: "failed", httpStatus: null, error: message };
    }
    return { kind: "retry", httpStatus: null, error: message };
  }
  switch (code) {
    case "EENVELOPE":
    case "EMESSAGE":
      return { kind: "failed", httpStatus: null, error: `the message cannot be sent (${code})` };
    case "EAUTH":
      return { kind: "gone", httpStatus: null, error: "authentication failed (EAUTH)" };
    case "":
      return { kind: "retry", httpStatus: null, error: "SMTP error" };
    default:
      return { kind: "retry", httpStatus: null, error: `SMTP connection failed (${code})` };
  }
}

/** An SMTP URL without its credentials: "smtps://smtp.example.com:465". */
export function maskSmtpUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.hostname}${parsed.port ? `:${parsed.port}` : ""}`;
  } catch {
    return "(invalid URL)";
  }
}
