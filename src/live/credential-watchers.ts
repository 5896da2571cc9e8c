/**
 * The re-checks of a process's open streams by the credential each depends on (an API key's id, a member's id):
 * when one changes anywhere (revoked, closed), the streams using it re-check their caller at once instead of at
 * their next periodic re-check. The live member status and the live approval queue share it.
 */
export interface CredentialWatchers {
  /** Calls `recheck` whenever credential `id` changes; returns the stop. */
  watch(id: string, recheck: () => void): () => void;
  /** Credential `id` changed: every stream watching it re-checks now. */
  changed(id: string): void;
}

export function createCredentialWatchers(): CredentialWatchers {
  const byCredential = new Map<string, Set<() => void>>();
  return {
    watch(id, recheck) {
      let set = byCredential.get(id);
      if (!set) byCredential.set(id, (set = new Set()));
      set.add(recheck);
      return () => {
        set.delete(recheck);
        if (set.size === 0 && byCredential.get(id) === set) byCredential.delete(id);
      };
    },
    changed(id) {
      for (const recheck of byCredential.get(id) ?? []) recheck();
    },
  };
}
