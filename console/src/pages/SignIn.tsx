import { useState, type FormEvent } from "react";
import { api, ApiError, setSession } from "../lib/api";

interface Tokens { access_token: string; refresh_token: string }

export function SignIn() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [invite, setInvite] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const go = async (mode: "login" | "signup") => {
    setBusy(true);
    setError(null);
    try {
      const invite_token = invite.trim() || undefined;
      const body =
        mode === "login"
          ? { email, password, invite_token }
          : { email, password, name: name.trim() || email.split("@")[0] || email, invite_token };
      const t = await api<Tokens>(`/auth/${mode}`, { method: "POST", body });
      setSession({ access_token: t.access_token, refresh_token: t.refresh_token });
      if (location.pathname === "/" || location.pathname === "") history.replaceState(null, "", "/agents");
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : String(e));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void go("login");
  };

  return (
    <div className="signin">
      <form onSubmit={submit} className="card">
        <h1>agentdeck</h1>
        <p className="muted">Sign in, or create an account with its own organisation.</p>
        <label>
          Email
          <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required autoFocus />
        </label>
        <label>
          Password
          <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        <label>
          Your name <span className="muted">(new accounts)</span>
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Invitation token <span className="muted">(to join an organisation you were invited to)</span>
          <input value={invite} onChange={(e) => setInvite(e.target.value)} autoComplete="off" />
        </label>
        {error && <p role="alert" className="error">{error}</p>}
        <div className="row">
          <button type="submit" disabled={busy}>Sign in</button>
          <button type="button" className="secondary" disabled={busy} onClick={() => void go("signup")}>
            Create account
          </button>
        </div>
      </form>
    </div>
  );
}
