//! The container state machine: one enum of states and one transition
//! function. A verb a client asks for (start, pause, remove, ...) and a
//! change the engine observes (the process exited, a restart was scheduled)
//! are both [`Move`]s; [`transition`] says where a move leads from a state,
//! that it changes nothing (dockerd's 304), or refuses it with dockerd's
//! error. Callers never write a status string: they apply the state this
//! function returns ([`crate::containers::ContainerRecord::set_state`]).

use berth_types::{Error, Result};
use std::fmt;

/// Where a container is, with dockerd's names (`State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Created,
    Running,
    Paused,
    /// Between an exit and the restart policy's next start.
    Restarting,
    /// `rm` is tearing it down.
    Removing,
    Exited,
    /// Teardown failed; only a forced remove is left.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Reads a stored status; an unknown word (a record from a newer
    /// berth, a hand-edited file) is taken as exited, the state from which
    /// every verb is safe.
    pub fn parse(s: &str) -> Status {
        match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "dead" => Status::Dead,
            _ => Status::Exited,
        }
    }

    /// Whether a process of the container may be alive (dockerd's `Running`
    /// flag is set in these three).
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is asked of a container, or what happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    // Verbs a client asks for.
    Start,
    Stop,
    Kill,
    Restart,
    Pause,
    Unpause,
    Remove {
        force: bool,
    },
    Exec,
    // What the engine sees or does.
    /// The runtime started the process.
    Started,
    /// The process exited (or a start failed).
    Exited,
    /// The restart policy will start it again after a back-off.
    ScheduleRestart,
    /// The runtime froze or thawed it.
    Frozen,
    Thawed,
    /// Teardown for `rm` begins.
    BeginRemoval,
    /// Teardown for `rm` failed half way.
    RemovalFailed,
}

/// The outcome of a move that is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Go on; the container ends up in this state once the work is done.
    To(Status),
    /// Nothing to do: dockerd answers 304 (start a running container, stop
    /// a stopped one).
    Unchanged,
}

/// Where `mv` leads from `from`, for the container `id` called `name` (both
/// appear in dockerd's errors).
pub fn transition(id: &str, name: &str, from: Status, mv: Move) -> Result<Step> {
    use Move as M;
    use Status as S;
    let to = Step::To;
    Ok(match (mv, from) {
        (M::Start, S::Running) => Step::Unchanged,
        (M::Start, S::Paused) => {
            return Err(Error::conflict(
                "cannot start a paused container, try unpause instead",
            ))
        }
        (M::Start | M::Restart, S::Removing | S::Dead) => {
            return Err(Error::conflict(
                "container is marked for removal and cannot be started",
            ))
        }
        (M::Start | M::Restart, _) => to(S::Running),

        (M::Stop, s) if !s.is_running() => Step::Unchanged,
        (M::Stop, _) => to(S::Exited),

        (M::Kill | M::Pause | M::Exec, s) if !s.is_running() => return Err(not_running(id)),
        (M::Kill, _) => to(S::Exited),
        (M::Pause | M::Exec, S::Restarting) => {
            return Err(Error::conflict(format!(
                "Container {id} is restarting, wait until the container is running"
            )))
        }
        (M::Pause, S::Paused) => {
            return Err(Error::conflict(format!("Container {id} is already paused")))
        }
        (M::Pause, _) => to(S::Paused),
        (M::Exec, S::Paused) => {
            return Err(Error::conflict(format!(
                "Container {id} is paused, unpause the container before exec"
            )))
        }
        (M::Exec, s) => to(s),

        (M::Unpause, S::Paused) => to(S::Running),
        (M::Unpause, _) => return Err(Error::conflict(format!("Container {id} is not paused"))),

        (M::Remove { .. }, S::Removing) => {
            return Err(Error::conflict(format!(
                "removal of container {id} is already in progress"
            )))
        }
        (M::Remove { force: false }, s @ (S::Running | S::Paused | S::Restarting)) => {
            let what = if s == S::Paused { "paused" } else { "running" };
            return Err(Error::conflict(format!(
                "cannot remove container \"{name}\": container is {what}: stop the container before removing or force remove"
            )));
        }
        (M::Remove { .. }, _) => to(S::Removing),

        (M::Started, S::Removing | S::Dead) => return Err(internal(id, from, mv)),
        (M::Started, _) => to(S::Running),
        (M::Exited, S::Removing | S::Dead) => Step::Unchanged,
        (M::Exited, _) => to(S::Exited),
        (M::ScheduleRestart, S::Running | S::Exited) => to(S::Restarting),
        (M::Frozen, S::Running) => to(S::Paused),
        (M::Thawed, S::Paused) => to(S::Running),
        (M::BeginRemoval, S::Removing) => to(S::Removing),
        (M::RemovalFailed, S::Removing) => to(S::Dead),
        (M::ScheduleRestart | M::Frozen | M::Thawed | M::BeginRemoval | M::RemovalFailed, _) => {
            return Err(internal(id, from, mv))
        }
    })
}

fn not_running(id: &str) -> Error {
    Error::conflict(format!("Container {id} is not running"))
}

fn internal(id: &str, from: Status, mv: Move) -> Error {
    Error::internal(format!("container {id}: no move {mv:?} from state {from}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::ErrorKind;
    use Move as M;
    use Status as S;

    const ALL: [Status; 7] = [
        S::Created,
        S::Running,
        S::Paused,
        S::Restarting,
        S::Removing,
        S::Exited,
        S::Dead,
    ];

    fn msg(from: Status, mv: Move) -> String {
        let e = transition("c1", "/n1", from, mv).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict, "{from} {mv:?}: {e}");
        e.message
    }

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(Status::parse(s.as_str()), s);
        }
        assert_eq!(Status::parse("bogus"), S::Exited);
    }

    #[test]
    fn start_as_dockerd() {
        assert_eq!(
            transition("c1", "/n1", S::Created, M::Start).unwrap(),
            Step::To(S::Running)
        );
        assert_eq!(
            transition("c1", "/n1", S::Exited, M::Start).unwrap(),
            Step::To(S::Running)
        );
        assert_eq!(
            transition("c1", "/n1", S::Restarting, M::Start).unwrap(),
            Step::To(S::Running)
        );
        assert_eq!(
            transition("c1", "/n1", S::Running, M::Start).unwrap(),
            Step::Unchanged
        );
        assert_eq!(
            msg(S::Paused, M::Start),
            "cannot start a paused container, try unpause instead"
        );
        for s in [S::Removing, S::Dead] {
            assert_eq!(
                msg(s, M::Start),
                "container is marked for removal and cannot be started"
            );
        }
    }

    #[test]
    fn stop_kill_pause_unpause_as_dockerd() {
        for s in [S::Created, S::Exited, S::Dead] {
            assert_eq!(
                transition("c1", "/n1", s, M::Stop).unwrap(),
                Step::Unchanged
            );
            assert_eq!(msg(s, M::Kill), "Container c1 is not running");
            assert_eq!(msg(s, M::Pause), "Container c1 is not running");
            assert_eq!(msg(s, M::Unpause), "Container c1 is not paused");
        }
        assert_eq!(
            transition("c1", "/n1", S::Paused, M::Stop).unwrap(),
            Step::To(S::Exited)
        );
        assert_eq!(msg(S::Paused, M::Pause), "Container c1 is already paused");
        assert_eq!(
            msg(S::Restarting, M::Pause),
            "Container c1 is restarting, wait until the container is running"
        );
        assert_eq!(
            transition("c1", "/n1", S::Running, M::Pause).unwrap(),
            Step::To(S::Paused)
        );
        assert_eq!(
            transition("c1", "/n1", S::Paused, M::Unpause).unwrap(),
            Step::To(S::Running)
        );
        assert_eq!(msg(S::Running, M::Unpause), "Container c1 is not paused");
    }

    #[test]
    fn exec_needs_a_running_unpaused_container() {
        assert_eq!(
            transition("c1", "/n1", S::Running, M::Exec).unwrap(),
            Step::To(S::Running)
        );
        assert_eq!(msg(S::Exited, M::Exec), "Container c1 is not running");
        assert_eq!(
            msg(S::Paused, M::Exec),
            "Container c1 is paused, unpause the container before exec"
        );
    }

    #[test]
    fn remove_as_dockerd() {
        for s in [S::Created, S::Exited, S::Dead] {
            let step = transition("c1", "/n1", s, M::Remove { force: false }).unwrap();
            assert_eq!(step, Step::To(S::Removing));
        }
        assert!(msg(S::Running, M::Remove { force: false }).contains("container is running"));
        assert!(msg(S::Paused, M::Remove { force: false }).contains("container is paused"));
        for s in [S::Running, S::Paused, S::Restarting] {
            let step = transition("c1", "/n1", s, M::Remove { force: true }).unwrap();
            assert_eq!(step, Step::To(S::Removing));
        }
        assert_eq!(
            msg(S::Removing, M::Remove { force: true }),
            "removal of container c1 is already in progress"
        );
    }

    #[test]
    fn observed_moves() {
        assert_eq!(
            transition("c1", "/n1", S::Created, M::Started).unwrap(),
            Step::To(S::Running)
        );
        assert_eq!(
            transition("c1", "/n1", S::Paused, M::Exited).unwrap(),
            Step::To(S::Exited)
        );
        assert_eq!(
            transition("c1", "/n1", S::Removing, M::Exited).unwrap(),
            Step::Unchanged
        );
        assert_eq!(
            transition("c1", "/n1", S::Exited, M::ScheduleRestart).unwrap(),
            Step::To(S::Restarting)
        );
        assert_eq!(
            transition("c1", "/n1", S::Removing, M::RemovalFailed).unwrap(),
            Step::To(S::Dead)
        );
        let e = transition("c1", "/n1", S::Removing, M::Started).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        let e = transition("c1", "/n1", S::Created, M::Thawed).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
    }

    /// Every (state, move) pair has an answer, and no allowed move leads
    /// to a state from which the container could never be removed.
    #[test]
    fn total_and_always_removable() {
        let moves = [
            M::Start,
            M::Stop,
            M::Kill,
            M::Restart,
            M::Pause,
            M::Unpause,
            M::Remove { force: false },
            M::Exec,
            M::Started,
            M::Exited,
            M::ScheduleRestart,
            M::Frozen,
            M::Thawed,
            M::BeginRemoval,
            M::RemovalFailed,
        ];
        for s in ALL {
            for mv in moves {
                if let Ok(Step::To(next)) = transition("c1", "/n1", s, mv) {
                    let rm = transition("c1", "/n1", next, M::Remove { force: true });
                    assert!(
                        rm.is_ok() || next == S::Removing,
                        "{s} --{mv:?}--> {next} cannot be removed"
                    );
                }
            }
        }
    }
}
