//! Just enough Dockerfile reading to put a failed build step back on its Dockerfile line:
//! instructions with their first line, grouped by stage. Both builders name a step by its
//! position (classic: `Step 5/9 : RUN …`; BuildKit: `[app 3/4] RUN …`, counted per stage
//! with FROM as 1), so position is what this maps.

use crate::dockerfile::{Instruction, instructions};

fn keyword(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// The line of the classic builder's `Step N/M : …` (N counts every instruction).
pub fn locate_step(dockerfile: &str, step: &str) -> Option<usize> {
    let n: usize = step
        .strip_prefix("Step ")?
        .split('/')
        .next()?
        .parse()
        .ok()?;
    instructions(dockerfile)
        .get(n.checked_sub(1)?)
        .map(|i| i.line)
}

/// `[2/2] STEP 3/7: RUN make` (Podman/Buildah, several stages) or `STEP 3/7: RUN make`.
pub fn is_podman_step(line: &str) -> bool {
    podman_step(line).is_some()
}

/// (stage 1-based, step 1-based, text) of a Podman step line.
fn podman_step(line: &str) -> Option<(usize, usize, &str)> {
    let (stage, rest) = match line.strip_prefix('[') {
        Some(r) => {
            let (head, rest) = r.split_once("] ")?;
            let k: usize = head.split('/').next()?.parse().ok()?;
            (k, rest)
        }
        None => (1, line),
    };
    let rest = rest.strip_prefix("STEP ")?;
    let (pos, text) = rest.split_once(": ")?;
    let n: usize = pos.split('/').next()?.parse().ok()?;
    Some((stage, n, text))
}

/// The line of a Podman step: Buildah numbers every instruction of a stage, FROM as 1 (and
/// appends its own LABEL steps after the last one).
pub fn locate_podman_step(dockerfile: &str, line: &str) -> Option<usize> {
    let (stage, n, text) = podman_step(line)?;
    let all = instructions(dockerfile);
    let froms: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, i)| keyword(&i.text) == "FROM")
        .map(|(k, _)| k)
        .collect();
    let start = *froms.get(stage.checked_sub(1)?)?;
    let end = froms.get(stage).copied().unwrap_or(all.len());
    let candidate = all[start..end].get(n.checked_sub(1)?)?;
    (keyword(&candidate.text) == keyword(text)).then_some(candidate.line)
}

/// The line of a BuildKit vertex name such as `[app 3/4] RUN make`, `[stage-1 2/2] …`
/// (unnamed second stage) or `[2/3] …` (a single-stage file). BuildKit's Dockerfile frontend
/// numbers only the steps that become build operations: FROM an image (not FROM another
/// stage), then each ADD, COPY, RUN and WORKDIR. Falls back to the instruction with the same
/// text.
pub fn locate_vertex(dockerfile: &str, vertex: &str) -> Option<usize> {
    let all = instructions(dockerfile);
    let (head, rest) = vertex.strip_prefix('[')?.split_once(']')?;
    let rest = rest.trim();
    // `[internal] load metadata for docker.io/library/x:1`: resolving a FROM image failed.
    if head == "internal" {
        let image = rest.strip_prefix("load metadata for ")?;
        let short = |r: &str| {
            let r = r
                .strip_prefix("docker.io/library/")
                .or_else(|| r.strip_prefix("docker.io/"))
                .unwrap_or(r)
                .to_string();
            if r.rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':') || last.contains('@'))
            {
                r
            } else {
                format!("{r}:latest")
            }
        };
        let want = short(image);
        return all
            .iter()
            .filter(|i| keyword(&i.text) == "FROM")
            .find(|i| {
                i.text
                    .split_whitespace()
                    .skip(1)
                    .find(|w| !w.starts_with("--"))
                    .is_some_and(|w| short(w) == want)
            })
            .map(|i| i.line);
    }
    let (stage, pos) = match head.rsplit_once(' ') {
        Some((s, p)) => (Some(s.trim()), p),
        None => (None, head),
    };
    let n: usize = pos.split('/').next()?.trim().parse().ok()?;
    // Stages: (index of FROM, name, FROM's base).
    let stages: Vec<(usize, Option<String>, String)> = all
        .iter()
        .enumerate()
        .filter(|(_, i)| keyword(&i.text) == "FROM")
        .map(|(k, i)| {
            let words: Vec<&str> = i.text.split_whitespace().skip(1).collect();
            let words: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
            let name = (words.len() >= 3 && words[words.len() - 2].eq_ignore_ascii_case("as"))
                .then(|| words[words.len() - 1].to_ascii_lowercase());
            (k, name, words.first().unwrap_or(&"").to_ascii_lowercase())
        })
        .collect();
    let which = match stage {
        None if stages.len() == 1 => Some(0),
        None => None,
        Some(s) => stages
            .iter()
            .position(|(_, name, _)| name.as_deref() == Some(&s.to_ascii_lowercase()))
            .or_else(|| {
                s.strip_prefix("stage-")
                    .and_then(|k| k.parse::<usize>().ok())
                    .filter(|&k| k < stages.len())
            }),
    };
    if let Some(w) = which {
        let (start, _, base) = &stages[w];
        let end = stages.get(w + 1).map(|s| s.0).unwrap_or(all.len());
        let from_stage = stages[..w]
            .iter()
            .enumerate()
            .any(|(k, (_, name, _))| name.as_deref() == Some(base) || k.to_string() == *base);
        let steps: Vec<&Instruction> = all[*start..end]
            .iter()
            .enumerate()
            .filter(|(k, i)| match keyword(&i.text).as_str() {
                "FROM" => *k == 0 && !from_stage,
                "ADD" | "COPY" | "RUN" | "WORKDIR" => true,
                _ => false,
            })
            .map(|(_, i)| i)
            .collect();
        if let Some(i) = steps.get(n.checked_sub(1)?)
            && keyword(&i.text) == keyword(rest)
        {
            return Some(i.line);
        }
    }
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let want = norm(rest);
    all.iter().find(|i| norm(&i.text) == want).map(|i| i.line)
}

/// The line a Dockerfile parse error names (`… dockerfile parse error line 7: …`).
pub fn parse_error_line(message: &str) -> Option<usize> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("parse error line ")? + "parse error line ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What to do about a Dockerfile feature the builder in use does not know. `dockerfile` is
/// the file's text: the syntax 1.4 hint is given only when the failing line (or, for a
/// heredoc's body read as instructions, a line before it) really uses `--link` or `<<`,
/// not after any parse error such as a misspelt instruction.
pub fn hint(message: &str, buildkit: bool, dockerfile: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    let parse = m.contains("parse error") || m.contains("unknown instruction");
    if !buildkit && (m.contains("unknown flag: mount") || m.contains("requires buildkit")) {
        return Some(
            "`RUN --mount` needs BuildKit: drop --buildkit=off (or SLIPWAY_BUILDKIT=off), on a daemon that supports it",
        );
    }
    let uses_1_4 = || {
        let upto = parse_error_line(message).unwrap_or(usize::MAX);
        dockerfile.lines().take(upto).any(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            let instr = l.starts_with("copy ") || l.starts_with("add ") || l.starts_with("run ");
            instr && (l.contains("--link") || l.contains("<<"))
        })
    };
    if buildkit
        && parse
        && (m.contains("unknown flag: link") || m.contains("unknown instruction"))
        && uses_1_4()
    {
        return Some(
            "`COPY --link` and heredocs (`RUN <<EOF`) need Dockerfile syntax 1.4; the daemon's built-in frontend is older (Docker 20.10 has 1.2). Upgrade the daemon to 23 or later, or put `# syntax=docker/dockerfile:1.4` first in the Dockerfile if the daemon can pull that image",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_map_to_dockerfile_lines() {
        let df = "# comment\nFROM x AS a\n\nRUN a \\\n  b\nRUN false\n";
        assert_eq!(locate_step(df, "Step 1/3 : FROM x AS a"), Some(2));
        assert_eq!(locate_step(df, "Step 2/3 : RUN a b"), Some(4));
        assert_eq!(locate_step(df, "Step 3/3 : RUN false"), Some(6));
        assert_eq!(locate_step(df, "Step 0/3 : x"), None);
        assert_eq!(locate_step(df, "Step 9/3 : x"), None);
    }

    #[test]
    fn podman_steps_map_to_dockerfile_lines() {
        // As Podman 4.3 printed them for this file (FROM of a stage shows the stage's ID).
        let df = "FROM base AS one\nRUN true\n\nFROM one\nENV X=1\nRUN echo hi\nRUN false\n";
        assert!(is_podman_step("[2/2] STEP 4/7: RUN false"));
        assert!(is_podman_step("STEP 2/3: RUN true"));
        assert!(!is_podman_step("Step 2/3 : RUN true"));
        assert_eq!(locate_podman_step(df, "[2/2] STEP 4/7: RUN false"), Some(7));
        assert_eq!(locate_podman_step(df, "[1/2] STEP 2/2: RUN true"), Some(2));
        assert_eq!(
            locate_podman_step(df, "[2/2] STEP 3/7: RUN echo hi"),
            Some(6)
        );
        // Buildah's own LABEL steps after the last instruction are not in the file.
        assert_eq!(
            locate_podman_step(df, "[2/2] STEP 5/7: LABEL \"slipway.image\"=\"a\""),
            None
        );
        assert_eq!(
            locate_podman_step("FROM x\nCOPY a /\nRUN make\n", "STEP 3/5: RUN make"),
            Some(3)
        );
    }

    #[test]
    fn parse_errors_and_hints() {
        let link = "failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 2: Unknown flag: link";
        assert_eq!(parse_error_line(link), Some(2));
        let df_link = "FROM x\nCOPY --link a /a\n";
        assert!(hint(link, true, df_link).is_some_and(|h| h.contains("syntax 1.4")));
        let heredoc = "dockerfile parse error line 3: unknown instruction: ECHO";
        assert_eq!(parse_error_line(heredoc), Some(3));
        let df_heredoc = "FROM x\nRUN <<EOF\necho hi\nEOF\n";
        assert!(hint(heredoc, true, df_heredoc).is_some());
        // A misspelt instruction is only that: no talk of syntax 1.4.
        let typo = "dockerfile parse error line 2: unknown instruction: RUUN";
        assert_eq!(hint(typo, true, "FROM x\nRUUN make\n"), None);
        // A heredoc after the failing line does not explain it.
        assert_eq!(
            hint(typo, true, "FROM x\nRUUN make\nRUN <<EOF\nx\nEOF\n"),
            None
        );
        let mount = "Dockerfile parse error line 4: Unknown flag: mount";
        assert!(hint(mount, false, "").is_some_and(|h| h.contains("--buildkit=off")));
        assert_eq!(parse_error_line("exit code: 1"), None);
        assert_eq!(hint("exit code: 1", true, ""), None);
    }

    #[test]
    fn buildkit_vertices_map_to_dockerfile_lines() {
        // As BuildKit numbered them on Docker 20.10: ARG/ENV are not steps, and a stage built
        // FROM another stage has no FROM step.
        let df = "FROM base AS shared\nRUN echo shared\n\nFROM shared AS final\nARG G\nENV X=1\n# note\nRUN echo \\\n  \"$G\"\nRUN false\n\nFROM shared\nWORKDIR /w\nRUN false\n";
        assert_eq!(locate_vertex(df, "[shared 1/2] FROM base"), Some(1));
        assert_eq!(locate_vertex(df, "[shared 2/2] RUN echo shared"), Some(2));
        assert_eq!(locate_vertex(df, "[final 1/2] RUN echo \"$G\""), Some(8));
        assert_eq!(locate_vertex(df, "[final 2/2] RUN false"), Some(10));
        // The unnamed third stage, and the same text elsewhere is not taken.
        assert_eq!(locate_vertex(df, "[stage-2 2/2] RUN false"), Some(14));
        // Single stage: no stage name in the vertex.
        assert_eq!(
            locate_vertex("FROM x\nCOPY . /\nRUN make\n", "[3/3] RUN make"),
            Some(3)
        );
        // Unknown stage: text match.
        assert_eq!(locate_vertex(df, "[other 9/9] WORKDIR /w"), Some(13));
        assert_eq!(locate_vertex(df, "[internal] load metadata"), None);
        // A FROM image that could not be resolved, named as BuildKit normalizes it.
        let froms =
            "FROM busybox AS a\nRUN true\nFROM --platform=linux/amd64 reg.example:5000/x/y:2\n";
        assert_eq!(
            locate_vertex(
                froms,
                "[internal] load metadata for docker.io/library/busybox:latest"
            ),
            Some(1)
        );
        assert_eq!(
            locate_vertex(froms, "[internal] load metadata for reg.example:5000/x/y:2"),
            Some(3)
        );
        assert_eq!(
            locate_vertex(
                froms,
                "[internal] load metadata for docker.io/library/other:1"
            ),
            None
        );
        assert_eq!(locate_vertex(df, "not a vertex"), None);
    }
}
