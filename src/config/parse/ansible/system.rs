//! The ansible modules that change the system with the image's own tools, as ansible 2.7
//! runs them (`apt` with the image's apt-get and dpkg-query, `user`/`group` with its
//! useradd/usermod/groupadd), and the file modules that need more than a copy (`get_url`,
//! `lineinfile`). Each becomes bash for the stage's step; reading `/etc/passwd` and friends
//! is done by bash itself, so the toolbox needs no grep or awk (werf's stapel image has
//! none).

use serde_saphyr::{Location, Spanned};

use super::common::{T, attrs, mode, q, scalar};
use crate::config::error::Ctx;
use crate::config::yaml::{Node, get, key_location};

/// A module's parameters, with located errors.
pub(super) struct Params<'a, 'c, 'y> {
    pub cx: &'a mut Ctx<'c>,
    pub p: &'y [(String, Spanned<Node>)],
    pub at: &'y Location,
    pub label: &'a str,
    pub module: &'a str,
}

impl Params<'_, '_, '_> {
    /// Reject any key outside `allowed`, at the key.
    fn only(&mut self, allowed: &[&str]) -> Option<()> {
        for (k, v) in self.p {
            if !allowed.contains(&k.as_str()) {
                let (l, c) = key_location(self.cx, k, v.referenced);
                self.cx.at_pos(
                    l,
                    c,
                    format!(
                        "{}: {}.{k} is not supported yet (supported: {}); use `shell:`",
                        self.label,
                        self.module,
                        allowed.join(", ")
                    ),
                );
                return None;
            }
        }
        Some(())
    }

    fn err(&mut self, msg: impl std::fmt::Display) -> Option<String> {
        let m = format!("{}: {}: {msg}", self.label, self.module);
        self.cx.at(self.at, m);
        None
    }

    fn str(&self, keys: &[&str]) -> Option<String> {
        keys.iter()
            .find_map(|k| get(self.p, k).and_then(|v| scalar(&v.value)))
    }

    /// ansible's booleans: YAML's, or yes/no/true/false/on/off/1/0 as text.
    fn bool(&mut self, key: &str, default: bool) -> Option<bool> {
        let Some(v) = get(self.p, key) else {
            return Some(default);
        };
        let b = match &v.value {
            Node::Bool(b) => Some(*b),
            Node::Int(1) => Some(true),
            Node::Int(0) => Some(false),
            Node::Str(s) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" => Some(true),
                "no" | "false" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if b.is_none() {
            self.err(format!("`{key}` must be a boolean"));
        }
        b
    }

    /// A list as ansible reads one: a YAML list, or a comma-separated string.
    fn list(&mut self, keys: &[&str]) -> Option<Vec<String>> {
        let Some(v) = keys.iter().find_map(|k| get(self.p, k)) else {
            return Some(Vec::new());
        };
        match &v.value {
            Node::Seq(items) => {
                let out: Option<Vec<String>> = items.iter().map(|i| scalar(&i.value)).collect();
                if out.is_none() {
                    self.err(format!("`{}` must be a list of names", keys[0]));
                }
                out
            }
            n => match scalar(n) {
                Some(s) => Some(
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect(),
                ),
                None => {
                    self.err(format!("`{}` must be a list or a string", keys[0]));
                    None
                }
            },
        }
    }

    fn state(&mut self, allowed: &[&str], default: &str) -> Option<String> {
        let s = self.str(&["state"]).unwrap_or_else(|| default.to_string());
        if !allowed.contains(&s.as_str()) {
            self.err(format!(
                "state={s} is not supported (supported: {})",
                allowed.join(", ")
            ));
            return None;
        }
        Some(s)
    }
}

/// Whether a name is in a colon-separated database (`/etc/passwd`, `/etc/group`), and its
/// third field (the id): bash only.
const ENTRY_FN: &str = r#"__ent() { local n x i r; while IFS=: read -r n x i r; do if [ "$n" = "$2" ]; then printf '%s' "$i"; return 0; fi; done < "$1"; return 1; }"#;

/// A plain-http GET of `$__u` into `$__t` with bash's `/dev/tcp` (HTTP/1.0, status 200 only).
const HTTP_GET: &str = r#"case "$__u" in http://*) ;; *) echo "get_url: $__u: no python in the toolbox and no curl or wget in the image, and bash can fetch only http://" >&2; false;; esac && { __r=${__u#http://}; __hp=${__r%%/*}; __path=/${__r#*/}; [ "$__r" != "$__hp" ] || __path=/; __host=${__hp%%:*}; __port=80; [ "$__hp" = "$__host" ] || __port=${__hp#*:}; exec 3<>"/dev/tcp/$__host/$__port" && printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$__path" "$__hp" >&3 && IFS= read -r __st <&3 && case "$__st" in "HTTP/"*" 200"*) ;; *) echo "get_url: $__u: ${__st%$'\r'}" >&2; false;; esac && while IFS= read -r __hl <&3 && [ -n "${__hl%$'\r'}" ]; do :; done && /.werf/stapel/embedded/bin/cat <&3 > "$__t"; }"#;

fn words(list: &[String]) -> String {
    list.iter().map(|s| q(s)).collect::<Vec<_>>().join(" ")
}

/// `apt`: ansible's apt module with the image's apt-get and dpkg-query. `present` installs
/// the packages dpkg does not list as installed, `latest` asks apt-get for all of them,
/// `absent` removes the installed ones; `update_cache` runs `apt-get update` first.
pub(super) fn apt(mut p: Params<'_, '_, '_>) -> Option<String> {
    p.only(&[
        "name",
        "pkg",
        "package",
        "state",
        "update_cache",
        "install_recommends",
        "purge",
    ])?;
    let names = p.list(&["name", "pkg", "package"])?;
    let state = p.state(
        &["present", "installed", "latest", "absent", "removed"],
        "present",
    )?;
    let update = p.bool("update_cache", false)?;
    let purge = p.bool("purge", false)?;
    let recommends = match get(p.p, "install_recommends") {
        Some(_) => Some(p.bool("install_recommends", true)?),
        None => None,
    };
    if names.is_empty() && !update {
        return p.err("needs `name` or `update_cache`");
    }
    // ansible's apt module runs apt-get with these.
    let mut s = String::from(
        "export DEBIAN_FRONTEND=noninteractive DEBIAN_PRIORITY=critical LANG=C LC_ALL=C LC_MESSAGES=C LC_CTYPE=C; ",
    );
    if update {
        s.push_str("apt-get update -q && ");
    }
    if names.is_empty() {
        s.push(':');
        return Some(s);
    }
    let installed = r#"case "$(dpkg-query -W -f='${Status}' "${__n%%=*}" 2>/dev/null)" in *" installed") __i=1;; *) __i=0;; esac"#;
    let opts = match recommends {
        Some(true) => " -o APT::Install-Recommends=yes",
        Some(false) => " -o APT::Install-Recommends=no",
        None => "",
    };
    let get = "apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";
    let list = words(&names);
    match state.as_str() {
        "latest" => s.push_str(&format!("{get}{opts} install {list}")),
        "absent" | "removed" => s.push_str(&format!(
            "__p=(); for __n in {list}; do {installed}; [ $__i = 0 ] || __p+=(\"$__n\"); done; \
             [ ${{#__p[@]}} = 0 ] || {get} remove{} \"${{__p[@]}}\"",
            if purge { " --purge" } else { "" }
        )),
        _ => s.push_str(&format!(
            "__p=(); for __n in {list}; do {installed}; [ $__i = 1 ] && [ \"$__n\" = \"${{__n%%=*}}\" ] || __p+=(\"$__n\"); done; \
             [ ${{#__p[@]}} = 0 ] || {get}{opts} install \"${{__p[@]}}\""
        )),
    }
    Some(s)
}

/// `group`: groupadd when the group is missing (`gid`, `system`), groupmod when its gid
/// differs, groupdel for `state: absent`.
pub(super) fn group(mut p: Params<'_, '_, '_>) -> Option<String> {
    p.only(&["name", "gid", "system", "state"])?;
    let Some(name) = p.str(&["name"]) else {
        return p.err("needs `name`");
    };
    let state = p.state(&["present", "absent"], "present")?;
    let system = p.bool("system", false)?;
    let gid = p.str(&["gid"]);
    let n = q(&name);
    let mut s = format!("{ENTRY_FN}; ");
    if state == "absent" {
        s.push_str(&format!(
            "if __ent /etc/group {n} >/dev/null; then groupdel {n}; fi"
        ));
        return Some(s);
    }
    let mut add = String::from("groupadd");
    if let Some(g) = &gid {
        add.push_str(&format!(" -g {}", q(g)));
    }
    if system {
        add.push_str(" -r");
    }
    s.push_str(&format!(
        "if __g=$(__ent /etc/group {n}); then {}; else {add} {n}; fi",
        match &gid {
            Some(g) => format!("[ \"$__g\" = {} ] || groupmod -g {} {n}", q(g), q(g)),
            None => ":".into(),
        }
    ));
    Some(s)
}

/// `user`: useradd when the user is missing (ansible's options, `-m` unless
/// `create_home: no`, `-N` when a group of the user's name exists and no `group` is
/// given), usermod with the given options when it exists, userdel for `state: absent`.
pub(super) fn user(mut p: Params<'_, '_, '_>) -> Option<String> {
    p.only(&[
        "name",
        "uid",
        "group",
        "groups",
        "append",
        "home",
        "shell",
        "comment",
        "system",
        "create_home",
        "createhome",
        "state",
        "remove",
    ])?;
    let Some(name) = p.str(&["name"]) else {
        return p.err("needs `name`");
    };
    let n = q(&name);
    let state = p.state(&["present", "absent"], "present")?;
    let mut s = format!("{ENTRY_FN}; ");
    if state == "absent" {
        let remove = if p.bool("remove", false)? { " -r" } else { "" };
        s.push_str(&format!(
            "if __ent /etc/passwd {n} >/dev/null; then userdel{remove} {n}; fi"
        ));
        return Some(s);
    }
    let system = p.bool("system", false)?;
    let append = p.bool("append", false)?;
    let create_home = if get(p.p, "createhome").is_some() {
        p.bool("createhome", true)?
    } else {
        p.bool("create_home", true)?
    };
    let groups = match get(p.p, "groups") {
        Some(_) => Some(p.list(&["groups"])?),
        None => None,
    };
    let mut common = String::new();
    for (key, flag) in [
        ("uid", "-u"),
        ("group", "-g"),
        ("comment", "-c"),
        ("home", "-d"),
        ("shell", "-s"),
    ] {
        if let Some(v) = p.str(&[key]) {
            common.push_str(&format!(" {flag} {}", q(&v)));
        }
    }
    let mut add = format!("useradd{common}");
    let mut modify = format!("usermod{common}");
    if let Some(g) = &groups {
        let g = q(&g.join(","));
        add.push_str(&format!(" -G {g}"));
        if append {
            modify.push_str(" -a");
        }
        modify.push_str(&format!(" -G {g}"));
    }
    add.push_str(if create_home { " -m" } else { " -M" });
    if system {
        add.push_str(" -r");
    }
    // useradd would try to create a group of the user's name (USERGROUPS_ENAB) and fail.
    let no_group = if p.str(&["group"]).is_none() {
        format!("__ent /etc/group {n} >/dev/null && __a+=(-N); ")
    } else {
        String::new()
    };
    let modify = if modify == "usermod" {
        ":".to_string()
    } else {
        format!("{modify} {n}")
    };
    s.push_str(&format!(
        "if __ent /etc/passwd {n} >/dev/null; then {modify}; else __a=(); {no_group}{add} \"${{__a[@]}}\" {n}; fi"
    ));
    Some(s)
}

/// `get_url`: download `url` to `dest` (a directory: under the URL's last path segment,
/// always downloaded),
/// with the toolbox's wget (or python, as in werf's stapel image; else the image's curl
/// or wget), check `checksum: ALGO:HEX` before moving it in place, then `mode`, `owner`,
/// `group`. An existing file `dest` is kept when `force` is off and its checksum (if one
/// is given) matches, as ansible does.
pub(super) fn get_url(mut p: Params<'_, '_, '_>) -> Option<String> {
    p.only(&[
        "url", "dest", "mode", "owner", "group", "checksum", "force", "timeout",
    ])?;
    let (Some(url), Some(dest)) = (p.str(&["url"]), p.str(&["dest"])) else {
        return p.err("needs `url` and `dest`");
    };
    let force = p.bool("force", false)?;
    let timeout = match p.str(&["timeout"]).map(|t| t.parse::<u32>()) {
        None => 10,
        Some(Ok(t)) => t,
        Some(Err(_)) => return p.err("`timeout` must be a number of seconds"),
    };
    let (algo, sum) = match p.str(&["checksum"]) {
        None => (None, String::new()),
        Some(c) => {
            let Some((a, h)) = c.split_once(':') else {
                return p.err(format!("checksum {c:?} must be ALGORITHM:HEX"));
            };
            let tool = match a {
                "sha256" | "sha1" | "sha512" | "sha224" | "sha384" | "md5" => format!("{a}sum"),
                _ => return p.err(format!("checksum algorithm {a:?} is not supported")),
            };
            (Some(tool), h.trim().to_ascii_lowercase())
        }
    };
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let mode = get(p.p, "mode").and_then(|v| mode(&v.value));
    let owner = p.str(&["owner"]);
    let grp = p.str(&["group"]);
    let fix = attrs(&owner, &grp, &mode, false, "\"$__d\"").join(" && ");
    let digest = |file: &str| match &algo {
        Some(tool) => format!("$({T}/{tool} {file} | {{ read -r h _; printf '%s' \"$h\"; }})"),
        None => String::new(),
    };
    let mut s = format!("__d={}; __u={}; ", q(&dest), q(&url));
    s.push_str(&format!(
        "__dir=0; if [ -d \"$__d\" ]; then __dir=1; __d=\"${{__d%/}}/\"{}; fi; ",
        q(&name)
    ));
    // Kept as it is, as ansible does (attributes still applied).
    // A directory `dest` always downloads, as in ansible.
    let keep = if force {
        "false".to_string()
    } else if algo.is_some() {
        format!(
            "[ $__dir = 0 ] && [ -f \"$__d\" ] && [ \"{}\" = {} ]",
            digest("\"$__d\""),
            q(&sum)
        )
    } else {
        "[ $__dir = 0 ] && [ -f \"$__d\" ]".to_string()
    };
    // werf's stapel image has python (ansible's own way); else the image's curl or wget;
    // else plain http with bash's /dev/tcp (Debian's minbase has no downloader).
    let fetch = format!(
        "if [ -x {T}/python ]; then {T}/python -c 'import sys,urllib2; open(sys.argv[2],\"wb\").write(urllib2.urlopen(sys.argv[1], timeout={t}).read())' \"$__u\" \"$__t\"; \
         elif command -v curl >/dev/null; then curl -fsSL -m {t} -o \"$__t\" \"$__u\"; \
         elif command -v wget >/dev/null; then wget -q -T {t} -O \"$__t\" \"$__u\"; \
         else {HTTP_GET}; fi \
         || {{ echo \"get_url: cannot download $__u\" >&2; {T}/rm -f \"$__t\"; false; }}",
        t = timeout
    );
    let check = match &algo {
        Some(_) => format!(
            "__h=\"{}\"; if [ \"$__h\" != {} ]; then echo \"get_url: the checksum for $__d did not match {}; it was $__h\" >&2; {T}/rm -f \"$__t\"; false; fi; ",
            digest("\"$__t\""),
            q(&sum),
            sum
        ),
        None => String::new(),
    };
    s.push_str(&format!(
        "if ! {{ {keep}; }}; then __t=\"$__d.slipway-get_url\"; {fetch}; {check}{T}/chmod 0644 \"$__t\" && {T}/mv -f \"$__t\" \"$__d\"; fi"
    ));
    if !fix.is_empty() {
        s.push_str(&format!("; {fix}"));
    }
    Some(s)
}

/// `lineinfile` as ansible 2.7's: `present` replaces the last line `regexp` matches, else
/// keeps an identical line, else inserts `line` at the end (`insertafter: EOF`, the
/// default) or the start (`BOF`); `absent` removes every line `regexp` matches (or equal
/// to `line`). A missing file is an error unless `create` (or `absent`). Regular
/// expressions are bash's (POSIX extended), not Python's.
pub(super) fn lineinfile(mut p: Params<'_, '_, '_>) -> Option<String> {
    p.only(&[
        "path",
        "dest",
        "destfile",
        "name",
        "line",
        "value",
        "regexp",
        "regex",
        "state",
        "create",
        "insertafter",
        "insertbefore",
        "mode",
        "owner",
        "group",
    ])?;
    let Some(path) = p.str(&["path", "dest", "destfile", "name"]) else {
        return p.err("needs `path`");
    };
    let state = p.state(&["present", "absent"], "present")?;
    let create = p.bool("create", false)?;
    let line = p.str(&["line", "value"]);
    let regexp = p.str(&["regexp", "regex"]);
    let after = p.str(&["insertafter"]);
    let before = p.str(&["insertbefore"]);
    let bof = match (after.as_deref(), before.as_deref()) {
        (None | Some("EOF"), None) => false,
        (Some("BOF"), None) | (None, Some("BOF")) => true,
        (Some(_), Some(_)) => return p.err("insertafter and insertbefore exclude each other"),
        (Some(o), None) => {
            return p.err(format!("insertafter={o:?} is not supported yet (EOF, BOF)"));
        }
        (None, Some(o)) => {
            return p.err(format!("insertbefore={o:?} is not supported yet (BOF)"));
        }
    };
    let mode = get(p.p, "mode").and_then(|v| mode(&v.value));
    let fix = attrs(
        &p.str(&["owner"]),
        &p.str(&["group"]),
        &mode,
        false,
        "\"$__f\"",
    )
    .join(" && ");
    let mut s = format!("__f={}; ", q(&path));
    let re = regexp.as_deref().map(q).unwrap_or_else(|| "''".into());
    let has_re = if regexp.is_some() { "1" } else { "0" };
    s.push_str(&format!("__re={re}; __hasre={has_re}; "));
    if state == "absent" {
        if line.is_none() && regexp.is_none() {
            return p.err("state=absent needs `line` or `regexp`");
        }
        s.push_str(&format!(
            "__line={}; if [ -f \"$__f\" ]; then __o=(); mapfile -t __l < \"$__f\"; __c=0; \
             for __x in \"${{__l[@]}}\"; do if {{ [ $__hasre = 1 ] && [[ $__x =~ $__re ]]; }} || {{ [ $__hasre = 0 ] && [ \"$__x\" = \"$__line\" ]; }}; then __c=1; else __o+=(\"$__x\"); fi; done; \
             if [ $__c = 1 ]; then if [ ${{#__o[@]}} = 0 ]; then : > \"$__f\"; else printf '%s\\n' \"${{__o[@]}}\" > \"$__f\"; fi; fi; fi",
            q(line.as_deref().unwrap_or_default())
        ));
    } else {
        let Some(line) = line else {
            return p.err("state=present needs `line`");
        };
        let missing = if create {
            format!(
                "__pd=\"${{__f%/*}}\"; [ -z \"$__pd\" ] || {T}/mkdir -p \"$__pd\"; : > \"$__f\""
            )
        } else {
            "echo \"lineinfile: Destination $__f does not exist !\" >&2; false".to_string()
        };
        // Arrays hold the lines without their newlines; an empty array expands to nothing.
        s.push_str(&format!(
            "__line={}; if [ -d \"$__f\" ]; then echo \"lineinfile: Path $__f is a directory !\" >&2; false; fi; \
             if [ ! -e \"$__f\" ]; then {missing}; fi; mapfile -t __l < \"$__f\"; __at=-1; \
             if [ $__hasre = 1 ]; then for __i in \"${{!__l[@]}}\"; do if [[ ${{__l[$__i]}} =~ $__re ]]; then __at=$__i; fi; done; fi; \
             if [ $__at = -1 ]; then for __i in \"${{!__l[@]}}\"; do if [ \"${{__l[$__i]}}\" = \"$__line\" ]; then __at=$__i; fi; done; fi; \
             if [ $__at != -1 ]; then if [ \"${{__l[$__at]}}\" != \"$__line\" ]; then __l[$__at]=$__line; printf '%s\\n' \"${{__l[@]}}\" > \"$__f\"; fi; \
             elif [ {bof} = 1 ]; then printf '%s\\n' \"$__line\" \"${{__l[@]}}\" > \"$__f\"; \
             else printf '%s\\n' \"${{__l[@]}}\" \"$__line\" > \"$__f\"; fi",
            q(&line),
            bof = if bof { 1 } else { 0 },
        ));
    }
    if !fix.is_empty() {
        s.push_str(&format!("; {fix}"));
    }
    Some(s)
}
