// Settings > Members: the organisation's members and roles, invitations, and each space's
// members and roles (add by e-mail, change a role, remove, leave). Errors from the API are
// shown where they happened: on the member's row or under the form.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useApp } from "../App";
import { all, api, setSession } from "../lib/api";
import type { Member, Space } from "../lib/types";
import { Problem, errorText } from "../components/Problem";
import { when } from "../lib/format";

const ORG_ROLES = ["owner", "admin", "member"];
const SPACE_ROLES = ["viewer", "editor", "owner"];

interface Invitation {
  id: string;
  email: string;
  role: string;
  expires_at: string;
}

/** Per key (a member's row): run an action, then `then` (a reload); keep the error of
 * either, shown on that row. */
function useRowErrors() {
  const [errors, setErrors] = useState<Record<string, unknown>>({});
  const run = useCallback((key: string, action: () => Promise<unknown>, then: () => Promise<unknown>): void => {
    setErrors(({ [key]: _, ...rest }) => rest);
    action().then(then).catch((e: unknown) => setErrors((all) => ({ ...all, [key]: e })));
  }, []);
  return [errors, run] as const;
}

function RowError({ error }: { error: unknown }) {
  return error ? <span role="alert" className="error">{errorText(error)}</span> : null;
}

export function Members() {
  const { me, spaces } = useApp();
  const org = me.current_org;
  const admin = org.role === "owner" || org.role === "admin";
  const [members, setMembers] = useState<Member[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Bumped when someone leaves the organisation: they left its spaces too.
  const [epoch, setEpoch] = useState(0);
  const load = useCallback(async () => {
    setMembers(await all<Member>(`/orgs/${org.id}/members`));
  }, [org.id]);
  useEffect(() => {
    load().catch(setError);
  }, [load]);
  const removed = useCallback(async () => {
    await load();
    setEpoch((n) => n + 1);
  }, [load]);

  return (
    <div className="members">
      <Problem error={error} />
      <h2>{org.name}</h2>
      {members && <OrgMembers members={members} admin={admin} reload={load} removed={removed} />}
      {admin && <Invitations />}
      <JoinOrg />
      <h2>Spaces</h2>
      <NewSpace />
      {spaces.map((s) => (
        <SpaceMembers key={s.id} space={s} orgMembers={members ?? []} epoch={epoch} />
      ))}
    </div>
  );
}

function OrgMembers({ members, admin, reload, removed }: { members: Member[]; admin: boolean; reload: () => Promise<void>; removed: () => Promise<void> }) {
  const { me } = useApp();
  const org = me.current_org;
  const [errors, run] = useRowErrors();
  const change = (m: Member, role: string) =>
    run(m.user_id, () => api(`/orgs/${org.id}/members/${m.user_id}`, { method: "PATCH", body: { role } }), reload);
  const remove = (m: Member) =>
    run(m.user_id, () => api(`/orgs/${org.id}/members/${m.user_id}`, { method: "DELETE" }), removed);
  return (
    <table aria-label="Members">
      <thead><tr><th>Name</th><th>Email</th><th>Role</th><th>Joined</th><th /></tr></thead>
      <tbody>
        {members.map((m) => {
          const other = admin && m.user_id !== me.user.id;
          return (
            <tr key={m.user_id}>
              <td>{m.name}</td><td>{m.email}</td>
              <td>
                {other ? (
                  <select value={m.role} onChange={(e) => change(m, e.target.value)} aria-label={`Role of ${m.email}`}>
                    {ORG_ROLES.map((r) => <option key={r}>{r}</option>)}
                  </select>
                ) : m.role}
              </td>
              <td>{when(m.joined_at)}</td>
              <td>
                {other && <button className="link" aria-label={`Remove ${m.email}`} onClick={() => remove(m)}>Remove</button>}{" "}
                <RowError error={errors[m.user_id]} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Invitations() {
  const { me } = useApp();
  const org = me.current_org;
  const [pending, setPending] = useState<Invitation[]>([]);
  const [invite, setInvite] = useState({ email: "", role: "member" });
  const [token, setToken] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [errors, run] = useRowErrors();
  const load = useCallback(async () => setPending(await all<Invitation>(`/orgs/${org.id}/invitations`)), [org.id]);
  useEffect(() => {
    load().catch(setError);
  }, [load]);
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const inv = await api<{ token: string }>(`/orgs/${org.id}/invitations`, { method: "POST", body: invite });
      setToken(inv.token);
      setInvite({ email: "", role: "member" });
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = (i: Invitation) =>
    run(i.id, () => api(`/orgs/${org.id}/invitations/${i.id}`, { method: "DELETE" }), load);
  return (
    <div className="card">
      <h3>Invitations</h3>
      {pending.length > 0 && (
        <table aria-label="Pending invitations">
          <thead><tr><th>Email</th><th>Role</th><th>Expires</th><th /></tr></thead>
          <tbody>
            {pending.map((i) => (
              <tr key={i.id}>
                <td>{i.email}</td><td>{i.role}</td><td>{when(i.expires_at)}</td>
                <td>
                  <button className="link" aria-label={`Revoke the invitation of ${i.email}`} onClick={() => revoke(i)}>Revoke</button>{" "}
                  <RowError error={errors[i.id]} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="row" onSubmit={(e) => void send(e)} aria-label="Invite">
        <label className="inline">Invite email<input type="email" value={invite.email} onChange={(e) => setInvite({ ...invite, email: e.target.value })} required /></label>
        <select aria-label="Invitation role" value={invite.role} onChange={(e) => setInvite({ ...invite, role: e.target.value })}>
          {["member", "admin", "owner"].map((r) => <option key={r}>{r}</option>)}
        </select>
        <button type="submit">Invite</button>
      </form>
      <Problem error={error} />
      {token && (
        <p className="note" role="status">
          Invitation token (shown once; the invitee enters it when they sign up or sign in): <code aria-label="New invitation token">{token}</code>
        </p>
      )}
    </div>
  );
}

/** Accept an invitation to another organisation as the signed-in user. */
function JoinOrg() {
  const { reload } = useApp();
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const join = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const t = await api<{ access_token: string; refresh_token: string }>("/auth/accept-invitation", { method: "POST", body: { token: token.trim() } });
      setSession({ access_token: t.access_token, refresh_token: t.refresh_token });
      setToken("");
      await reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="card row" onSubmit={(e) => void join(e)} aria-label="Join an organisation">
      <label className="inline grow">Join with an invitation token<input className="grow" value={token} onChange={(e) => setToken(e.target.value)} required /></label>
      <button type="submit" className="secondary">Join organisation</button>
      <Problem error={error} />
    </form>
  );
}

function NewSpace() {
  const { reloadSpaces } = useApp();
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api("/spaces", { method: "POST", body: { name } });
      setName("");
      await reloadSpaces();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="card row" onSubmit={(e) => void create(e)} aria-label="New space">
      <label className="inline">Space name<input value={name} onChange={(e) => setName(e.target.value)} required /></label>
      <button type="submit">Create space</button>
      <Problem error={error} />
    </form>
  );
}

function SpaceMembers({ space, orgMembers, epoch }: { space: Space; orgMembers: Member[]; epoch: number }) {
  const { me, reloadSpaces } = useApp();
  const [members, setMembers] = useState<Member[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [errors, run] = useRowErrors();
  const [add, setAdd] = useState({ email: "", role: "viewer" });
  const [addError, setAddError] = useState<unknown>(null);
  const owner = space.role === "owner" && !space.is_personal;
  const load = useCallback(async () => setMembers(await all<Member>(`/spaces/${space.id}/members`)), [space.id]);
  useEffect(() => {
    load().catch(setError);
  }, [load, epoch]);

  // Your own role or membership changed: the app's spaces (and your rights here) did too.
  const self = (m: Member) => m.user_id === me.user.id;
  const change = (m: Member, role: string) =>
    run(m.user_id, () => api(`/spaces/${space.id}/members/${m.user_id}`, { method: "PATCH", body: { role } }), () =>
      Promise.all([load(), self(m) ? reloadSpaces() : null]),
    );
  const remove = (m: Member) =>
    run(m.user_id, () => api(`/spaces/${space.id}/members/${m.user_id}`, { method: "DELETE" }), () => (self(m) ? reloadSpaces() : load()));

  const inSpace = new Set((members ?? []).map((m) => m.user_id));
  const candidates = orgMembers.filter((m) => !inSpace.has(m.user_id));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setAddError(null);
    const email = add.email.trim().toLowerCase();
    const user = orgMembers.find((m) => m.email.toLowerCase() === email);
    if (!user) {
      setAddError(new Error(`${add.email.trim()} is not a member of ${me.current_org.name}: invite them to the organisation first`));
      return;
    }
    try {
      await api(`/spaces/${space.id}/members`, { method: "POST", body: { user_id: user.user_id, role: add.role } });
      setAdd({ email: "", role: add.role });
      await load();
    } catch (err) {
      setAddError(err);
    }
  };

  return (
    <section className="card" aria-label={`Space ${space.name}`}>
      <h3>
        {space.name}{" "}
        <span className="muted">
          ({space.is_personal
            ? "personal: only you"
            : !members || members.some(self)
              ? `your role: ${space.role}`
              : `you manage it as organisation ${me.current_org.role}`})
        </span>
      </h3>
      <Problem error={error} />
      {members && (
        <table aria-label={`Members of ${space.name}`}>
          <thead><tr><th>Name</th><th>Email</th><th>Role</th><th /></tr></thead>
          <tbody>
            {members.map((m) => {
              const mine = self(m);
              return (
                <tr key={m.user_id}>
                  <td>{m.name}</td><td>{m.email}</td>
                  <td>
                    {owner ? (
                      <select value={m.role} onChange={(e) => change(m, e.target.value)} aria-label={`Role of ${m.email} in ${space.name}`}>
                        {SPACE_ROLES.map((r) => <option key={r}>{r}</option>)}
                      </select>
                    ) : m.role}
                  </td>
                  <td>
                    {!space.is_personal && (owner || mine) && (
                      <button className="link" aria-label={`${mine ? "Leave" : `Remove ${m.email} from`} ${space.name}`} onClick={() => remove(m)}>
                        {mine ? "Leave" : "Remove"}
                      </button>
                    )}{" "}
                    <RowError error={errors[m.user_id]} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {owner && (
        <form className="row" onSubmit={(e) => void submit(e)} aria-label={`Add a member to ${space.name}`}>
          <input
            type="email"
            className="grow"
            placeholder="email of a member of the organisation"
            aria-label={`Email of the member to add to ${space.name}`}
            list={`candidates-${space.id}`}
            value={add.email}
            onChange={(e) => setAdd({ ...add, email: e.target.value })}
            required
          />
          <datalist id={`candidates-${space.id}`}>
            {candidates.map((m) => <option key={m.user_id} value={m.email}>{m.name}</option>)}
          </datalist>
          <select aria-label={`Role in ${space.name}`} value={add.role} onChange={(e) => setAdd({ ...add, role: e.target.value })}>
            {SPACE_ROLES.map((r) => <option key={r}>{r}</option>)}
          </select>
          <button type="submit">Add to space</button>
        </form>
      )}
      <Problem error={addError} />
    </section>
  );
}
