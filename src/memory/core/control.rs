//! What a test does to the simulated cluster: crash and restart members, let
//! one fall behind (lagging or cut off from the majority), let it catch up.

use super::super::cluster::Health;
use super::super::store::{WatchId, Watching};
use super::Core;

impl Core {
    /// Crash member `i`; a crashed leader leaves an election behind it.
    pub fn crash(&mut self, i: usize, t: u64) {
        self.advance(t);
        self.health_changes += 1;
        let Some(m) = self.cluster.members.get_mut(i) else {
            return;
        };
        m.health = Health::Down;
        if self.cluster.leader == Some(i) {
            self.cluster.start_election(t, self.election, self.wall(t));
        }
    }

    /// Restart member `i` (a crashed one comes back up to date, and publishes
    /// its name and client URLs through raft as etcd's does: one change of
    /// the store, `/0/members/<id>/attributes`, capture 557).
    pub fn restart(&mut self, i: usize, t: u64) {
        self.advance(t);
        self.health_changes += 1;
        let wall = self.wall(t);
        let Some(m) = self.cluster.members.get_mut(i) else {
            return;
        };
        if matches!(m.health, Health::Down) {
            m.health = Health::Up;
            m.started = wall;
            if self.cluster.leader.is_some() && self.cluster.has_quorum() {
                self.cluster.commit(1, wall, 0);
                self.store.internal_event();
            }
        }
        if self.cluster.leader.is_none() {
            let ends = self
                .cluster
                .election_ends
                .unwrap_or(t)
                .max(t + self.election / 2);
            self.cluster.election_ends = Some(ends);
        }
    }

    /// Member `i` falls behind: it serves local reads from the store as it is
    /// now; `cut_off` also stalls its writes and freezes its term (a partition).
    pub fn fall_behind(&mut self, i: usize, cut_off: bool, t: u64) {
        self.advance(t);
        self.health_changes += 1;
        let snapshot = Box::new(self.store.clone());
        let (term, raft_index) = (self.cluster.term, self.cluster.raft_index);
        let Some(m) = self.cluster.members.get_mut(i) else {
            return;
        };
        if !matches!(m.health, Health::Up) {
            return;
        }
        m.health = Health::Behind {
            store: snapshot,
            term,
            raft_index,
            cut_off,
        };
        if cut_off && self.cluster.leader == Some(i) {
            self.cluster.start_election(t, self.election, self.wall(t));
        }
    }

    /// Member `i` catches up: its waits move to the live store, from the index
    /// they were waiting for.
    pub fn catch_up(&mut self, i: usize, t: u64) {
        self.advance(t);
        self.health_changes += 1;
        let Some(m) = self.cluster.members.get_mut(i) else {
            return;
        };
        if !matches!(m.health, Health::Behind { .. }) {
            return;
        }
        m.health = Health::Up;
        let moving: Vec<u64> = self
            .waits
            .iter()
            .filter(|(_, w)| w.member == i && w.behind)
            .map(|(id, _)| *id)
            .collect();
        for id in moving {
            let Some(w) = self.waits.get_mut(&id) else {
                continue;
            };
            w.behind = false;
            match self.store.watch(&w.key, w.recursive, w.stream, w.since) {
                Ok(Watching::Waiting(watch)) => w.watch = watch,
                Ok(Watching::Ready(e)) => {
                    w.ready = Some(e);
                    w.watch = WatchId(u64::MAX);
                }
                // More than the history holds passed while it lagged: it ends
                // (empty), as a wait etcd drops does.
                Err(_) => {
                    w.closed = true;
                    w.watch = WatchId(u64::MAX);
                }
            }
        }
        if self.cluster.leader.is_none() && self.cluster.election_ends.is_none() {
            self.cluster.start_election(t, self.election, self.wall(t));
        }
    }
}
