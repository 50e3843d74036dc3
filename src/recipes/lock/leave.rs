//! Leaving without the lock, or after abandoning it: what the lock machine
//! undoes (its key, a key its create of unknown outcome may have made, and
//! strays), as a [`Release`].

use super::machine::LockMachine;
use super::state::State;
use crate::recipes::release::Release;

impl LockMachine {
    /// How an abandoned acquisition (whose driver stopped before it ended) is
    /// undone: delete the key this machine made, or, after a create of unknown
    /// outcome, find it by id (an exclusive lock's id is its own; a reentrant
    /// lock's instance value may be another handle's key, so that one is left
    /// to its TTL); and sweep any strays (see [`Held::strays`](super::Held::strays)).
    pub fn abandoned(&self) -> Release {
        self.undo(self.created_key())
    }

    /// The release that deletes `key` (ours) or, for an exclusive lock, finds
    /// a key a create of unknown outcome may have made, sweeping strays.
    fn undo(&self, key: Option<&str>) -> Release {
        let (dir, id) = (self.dir.as_str(), self.id.as_str());
        let release = match key {
            Some(key) => Release::key(key, id),
            None if !self.reentrant && (self.create_pending() || self.strays) => {
                Release::find(dir, id)
            }
            None => return Release::nothing(),
        };
        if self.sweeps() {
            release.sweeping(dir)
        } else {
            release
        }
    }

    /// Whether releasing must sweep the directory of strays.
    pub(super) fn sweeps(&self) -> bool {
        self.strays && !self.reentrant
    }

    /// Give up without the lock: undo what the machine made, then finish.
    /// What it knows of its key stays until the undoing ends, so that an
    /// acquisition abandoned meanwhile still undoes it ([`Self::abandoned`]).
    pub(super) fn leaving(&mut self, timed_out: bool) -> State {
        let release = self.undo(self.mine().map(|m| m.key.as_str()));
        State::Leaving {
            release: Box::new(release),
            timed_out,
        }
    }
}
