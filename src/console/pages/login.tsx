// The sign-in page (the admin token) and the page that says something went wrong.

import type { JSX } from "preact";
import { Layout, type PageContext } from "../layout.tsx";

/** The sign-in form, with an error when the last try failed. */
export function loginPage(
  context: PageContext,
  options: { error: string | null; notice: string | null; next: string },
): JSX.Element {
  return (
    <Layout title="Sign in" current={null} context={{ ...context, csrf: null }}>
      <div class="login">
        {options.notice !== null && <p class="flash ok" role="status">{options.notice}</p>}
        {options.error !== null && (
          <p class="flash error" role="alert" id="login-error">{options.error}</p>
        )}
        <form method="post" action="/ui/login">
          <input type="hidden" name="next" value={options.next} />
          <div class="field">
            <label for="token">Admin token</label>
            <input
              id="token"
              name="token"
              type="password"
              autocomplete="current-password"
              required
              aria-describedby={options.error !== null ? "login-error token-hint" : "token-hint"}
              aria-invalid={options.error !== null ? "true" : undefined}
            />
            <span id="token-hint" class="muted">
              The <code>admin.token</code> of the config, or the one in the file{" "}
              <code>admin-token</code> beside the store.
            </span>
          </div>
          <div class="actions">
            <button type="submit" class="primary">Sign in</button>
          </div>
        </form>
      </div>
    </Layout>
  );
}

/** A page that says what went wrong, such as "No event …" or "Refused". */
export function problemPage(
  context: PageContext,
  title: string,
  text: string,
): JSX.Element {
  return (
    <Layout title={title} current={null} context={context}>
      <p>{text}</p>
      {context.csrf !== null && (
        <p>
          <a href="/">Back to the overview</a>
        </p>
      )}
    </Layout>
  );
}
