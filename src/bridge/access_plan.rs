//! The planning of a user's or a role's PUT, and the machine's steps.

use std::collections::BTreeSet;

use super::*;

impl Access {
    /// The first role among `roles` that does not exist (v2 accepted unknown
    /// roles; v3 cannot grant them).
    fn missing_role<'a>(&self, roles: impl IntoIterator<Item = &'a String>) -> Option<&'a String> {
        roles
            .into_iter()
            .find(|r| *r != ROOT && matches!(self.facts.role.get(*r), Some(None)))
    }

    fn user_json(
        &self,
        status: u16,
        name: &str,
        roles: Option<Vec<String>>,
    ) -> http::Response<Vec<u8>> {
        let value = json!({ "user": name, "roles": roles });
        reply::json(
            status,
            body(value.to_string().into_bytes()),
            self.facts.cluster,
        )
    }

    pub(super) fn put_user(&self, b: &UserBody) -> Planned {
        let name = &b.user;
        let existing = self.facts.user.get(name).cloned().flatten();
        let add = |roles: &[String]| -> Vec<Change> {
            let mut out = Vec::new();
            if roles.iter().any(|r| r == ROOT) {
                out.push(root_role(name).remove(0));
            }
            let user = json!({ "name": name, "password": b.password });
            out.push((Post::applying("/v3/auth/user/add", user), None));
            let mut granted = BTreeSet::new();
            for role in roles.iter().filter(|r| granted.insert(r.as_str())) {
                let grant = json!({ "user": name, "role": role });
                out.push((Post::applying("/v3/auth/user/grant", grant), None));
            }
            out
        };
        let empty_password = || {
            self.error(
                400,
                &format!("auth: Cannot create user {name} with an empty password"),
            )
        };
        if let Some(role) = self.missing_role(b.roles.iter().chain(&b.grant)) {
            return Err(Box::new(
                self.error(404, &format!("auth: Role {role} does not exist.")),
            ));
        }
        if b.grant.is_empty() && b.revoke.is_empty() {
            if !b.roles.is_empty() {
                if existing.is_some() {
                    return Err(Box::new(
                        self.error(409, &format!("auth: User {name} already exists.")),
                    ));
                }
                if b.password.is_empty() {
                    return Err(Box::new(empty_password()));
                }
                let mut roles = b.roles.clone();
                if name == ROOT && !roles.iter().any(|r| r == ROOT) {
                    roles.push(ROOT.into());
                }
                return Ok((add(&roles), self.user_json(200, name, Some(roles))));
            }
            return match existing {
                Some(mut roles) => {
                    if b.password.is_empty() {
                        return Err(Box::new(self.error(
                            400,
                            "auth: User not updated. Use grant/revoke/password to update the user.",
                        )));
                    }
                    let change = json!({ "name": name, "password": b.password });
                    roles.sort();
                    Ok((
                        vec![(Post::applying("/v3/auth/user/changepw", change), None)],
                        self.user_json(200, name, Some(roles)),
                    ))
                }
                None if b.password.is_empty() => Err(Box::new(empty_password())),
                None => {
                    let roles: Vec<String> = if name == ROOT {
                        vec![ROOT.into()]
                    } else {
                        vec![]
                    };
                    let shown = (!roles.is_empty()).then(|| roles.clone());
                    Ok((add(&roles), self.user_json(201, name, shown)))
                }
            };
        }
        let Some(current) = existing else {
            return Err(Box::new(
                self.error(404, &format!("auth: User {name} does not exist.")),
            ));
        };
        let mut roles: BTreeSet<String> = current.into_iter().collect();
        let mut out = Vec::new();
        if !b.password.is_empty() {
            let change = json!({ "name": name, "password": b.password });
            out.push((Post::applying("/v3/auth/user/changepw", change), None));
        }
        for role in &b.grant {
            if !roles.insert(role.clone()) {
                return Err(Box::new(self.error(
                    409,
                    &format!("auth: Granting duplicate role {role} for user {name}"),
                )));
            }
            if role == ROOT {
                out.push(root_role(name).remove(0));
            }
            let grant = json!({ "user": name, "role": role });
            out.push((Post::applying("/v3/auth/user/grant", grant), None));
        }
        for role in &b.revoke {
            if !roles.remove(role) {
                return Err(Box::new(self.error(
                    409,
                    &format!("auth: Revoking ungranted role {role} for user {name}"),
                )));
            }
            let revoke = json!({ "name": name, "role": role });
            out.push((Post::applying("/v3/auth/user/revoke", revoke), None));
        }
        Ok((
            out,
            self.user_json(200, name, Some(roles.into_iter().collect())),
        ))
    }

    pub(super) fn put_role(&self, b: &RoleBody) -> Planned {
        let name = &b.role;
        if name == ROOT {
            return Err(Box::new(
                self.error(403, "auth: Cannot modify role root: is root role."),
            ));
        }
        let existing = self.facts.role.get(name).cloned().flatten();
        let id = self.facts.cluster;
        if !b.updates() {
            if existing.is_some() {
                return Err(Box::new(
                    self.error(409, &format!("auth: Role {name} already exists.")),
                ));
            }
            let (read, write) = b.permissions.sets();
            let wanted = v3_perms(&self.prefix, &Patterns { read, write });
            let mut out = vec![(
                Post::applying("/v3/auth/role/add", json!({ "name": name })),
                None,
            )];
            out.extend(to_changes(changes(name, &self.prefix, &[], &wanted)));
            let echo = json!({
                "role": name,
                "permissions": { "kv": { "read": b.permissions.kv.read, "write": b.permissions.kv.write } },
            });
            let answer = reply::json(201, body(echo.to_string().into_bytes()), id);
            return Ok((out, answer));
        }
        let Some(perms) = existing else {
            return Err(Box::new(
                self.error(404, &format!("auth: Role {name} does not exist.")),
            ));
        };
        let current = v2_patterns(&self.prefix, &perms);
        let mut merged = current.clone();
        if let Some(grant) = &b.grant {
            let (read, write) = grant.sets();
            for (kind, set, into) in [
                ("read", read, &mut merged.read),
                ("write", write, &mut merged.write),
            ] {
                for pattern in set {
                    if !into.insert(pattern.clone()) {
                        return Err(Box::new(self.error(
                            409,
                            &format!("auth: Granting duplicate {kind} permission {pattern}"),
                        )));
                    }
                }
            }
        }
        if let Some(revoke) = &b.revoke {
            let (read, write) = revoke.sets();
            merged.read.retain(|p| !read.contains(p));
            merged.write.retain(|p| !write.contains(p));
        }
        if merged == current {
            return Err(Box::new(self.error(
                400,
                "auth: Role not updated. Use grant/revoke to update the role.",
            )));
        }
        let wanted = v3_perms(&self.prefix, &merged);
        let out = to_changes(changes(name, &self.prefix, &perms, &wanted));
        let answer = reply::json(
            200,
            body(merged.role_json(name).to_string().into_bytes()),
            id,
        );
        Ok((out, answer))
    }

    pub(super) fn step(&mut self, now: Instant) -> Step<Request, (), Answer> {
        if let Some(output) = &mut self.done {
            return output_once(output, "bridge auth call");
        }
        if self.flight.is_some() {
            return Step::Done(Err(Error::Misuse(
                "the bridge auth call was polled while a request was in flight".into(),
            )));
        }
        if self.deadline.is_some_and(|d| now >= d) {
            let made = if self.changes.is_some() {
                "the changes already made stay"
            } else {
                "nothing was changed"
            };
            self.finish(Err(Error::DeadlineExceeded(format!(
                "the call's deadline passed before it was over; {made}"
            ))));
            return self.step(now);
        }
        if self.changes.is_none() {
            if let Some((post, flight)) = self.next_read() {
                self.flight = Some(flight);
                return Step::Send(Request::Post(post));
            }
            match self.plan() {
                Ok((changes, reply)) => {
                    self.changes = Some(changes.into());
                    self.reply = Some(reply);
                }
                Err(answer) => {
                    self.finish(Ok(*answer));
                    return self.step(now);
                }
            }
        }
        match self.changes.as_mut().and_then(VecDeque::pop_front) {
            Some((post, tolerated)) => {
                self.flight = Some(Flight::Change(tolerated));
                Step::Send(Request::Post(post))
            }
            None => {
                let answer = self
                    .reply
                    .take()
                    .ok_or_else(|| Error::Misuse("the bridge auth call has finished".into()));
                self.finish(answer);
                self.step(now)
            }
        }
    }

    pub(super) fn take(&mut self, outcome: Outcome, _now: Instant) -> Result<(), Error> {
        let (Some(flight), Outcome::Post(result)) = (self.flight.take(), outcome) else {
            return Err(Error::Misuse(
                "a bridge outcome that does not match the request in flight".into(),
            ));
        };
        let went = match flight {
            Flight::Change(tolerated) => self.changed(tolerated, result),
            flight => self.read(flight, result),
        };
        if let Err(answer) = went {
            self.finish(*answer);
        }
        Ok(())
    }
}

fn to_changes(bodies: Vec<(&'static str, Value)>) -> Vec<Change> {
    bodies
        .into_iter()
        .map(|(path, body)| (Post::applying(path, body), None))
        .collect()
}

bridge_machine!(Access);
