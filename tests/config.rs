//! werf.yaml loading: a table of good and bad files with the exact located error each
//! gives, and the examples/ projects.

use crate::support;

use std::path::Path;

use slipway::config;
use slipway::settings::Settings;

const META: &str = "project: demo\nconfigVersion: 1\n---\n";

fn settings(dir: &Path) -> Settings {
    Settings {
        dir: dir.to_path_buf(),
        ..Settings::default()
    }
}

/// Load `yaml` in a project that has `Dockerfile`, `sub/Dockerfile` and `ctx/`.
fn load(yaml: &str) -> Result<config::Config, String> {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
    config::load(&settings(dir.path())).map_err(|e| e.to_string())
}

/// A `context:` or `dockerfile:` that stays inside the project by its path but leaves it
/// through a symlink is refused, naming it: its files would reach the image.
#[test]
fn context_and_dockerfile_symlinked_out_of_the_project_are_refused() {
    let outside = tempfile::tempdir().expect("tmp");
    std::fs::write(
        outside.path().join("Dockerfile"),
        "FROM scratch\nCOPY secret /\n",
    )
    .expect("write");
    std::fs::write(outside.path().join("secret"), "not the project's").expect("write");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("ctx")).expect("symlink");
    std::os::unix::fs::symlink(
        outside.path().join("Dockerfile"),
        dir.path().join("Dockerfile.out"),
    )
    .expect("symlink");
    // A symlink that stays inside is fine.
    std::os::unix::fs::symlink("Dockerfile", dir.path().join("Dockerfile.in")).expect("symlink");
    for (yaml, want) in [
        (
            format!("{META}image: a\ncontext: ctx\n"),
            Some("werf.yaml:5:10: context \"ctx\" escapes the project directory"),
        ),
        (
            format!("{META}image: a\ndockerfile: Dockerfile.out\n"),
            Some("werf.yaml:5:13: dockerfile \"Dockerfile.out\" escapes the project directory"),
        ),
        (format!("{META}image: a\ndockerfile: Dockerfile.in\n"), None),
    ] {
        std::fs::write(dir.path().join("werf.yaml"), &yaml).expect("write");
        let got = config::load(&settings(dir.path())).map_err(|e| e.to_string());
        match want {
            Some(w) => {
                let err = got.expect_err(&yaml);
                assert!(err.contains(w), "{yaml}: {err}");
            }
            None => {
                got.expect(&yaml);
            }
        }
    }
}

#[test]
fn bad_files_give_located_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "werf.yaml: empty config: `project:` and `configVersion: 1` are required",
        ),
        (
            "configVersion: 1\n",
            "werf.yaml:1:1: `project:` is required in the meta document",
        ),
        (
            "project: demo\n",
            "werf.yaml:1:1: `configVersion: 1` is required in the meta document",
        ),
        (
            "project: demo\nconfigVersion: 2\n",
            "werf.yaml:2:16: configVersion must be 1, got 2",
        ),
        (
            "project: Demo\nconfigVersion: 1\n",
            "werf.yaml:1:10: project \"Demo\" is not valid",
        ),
        (
            "project: a--b\nconfigVersion: 1\n",
            "werf.yaml:1:10: project \"a--b\" is not valid",
        ),
        (
            "project: [a]\nconfigVersion: 1\n",
            "werf.yaml:1:10: project must be a string",
        ),
        (
            "project: demo\nconfigVersion: 1\nbogus: 1\n",
            "werf.yaml:3:1: unknown key `bogus`",
        ),
        (
            "project: demo\nconfigVersion: 1\nclenup: {}\n",
            "werf.yaml:3:1: unknown key `clenup` (did you mean `cleanup`?)",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndockerfle: Dockerfile\n",
            "werf.yaml:5:1: unknown key `dockerfle` (did you mean `dockerfile`?)",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ntargte: x\n",
            "werf.yaml:5:1: unknown key `targte` (did you mean `target`?)",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfoo: x\n",
            "werf.yaml:5:1: unknown key `foo`",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\n---\nimage: a\n",
            "werf.yaml:6:8: duplicate image name \"a\"",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: ~\n---\nimage: null\n",
            "werf.yaml:6:8: more than one nameless image (`image: ~`)",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: {a: 1}\n",
            "werf.yaml:4:8: image name must be a string, a list of strings or ~",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: [a, 1]\n",
            "werf.yaml:4:8: image name must be a string, a list of strings or ~",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: []\n",
            "werf.yaml:4:8: image name must be a string, a list of strings or ~",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: [a, b]\n---\nimage: b\n",
            "werf.yaml:6:8: duplicate image name \"b\"",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndependencies:\n  - image: b\n    imports: [{type: ImageName, targetEnv: B}]\n---\nimage: b\n",
            "werf.yaml:6:3: dependency \"b\": `targetEnv` is for stapel images",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\ndockerfile: Dockerfile\n",
            "werf.yaml:4:13: document has no `image:` key",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndockerfile: Nope\n",
            "werf.yaml:5:13: Dockerfile \"Nope\" not found",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndockerfile: ../../etc/passwd\n",
            "werf.yaml:5:13: dockerfile \"../../etc/passwd\" escapes the project directory",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ncontext: ../..\n",
            "werf.yaml:5:10: context \"../..\" escapes the project directory",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ncontext: nope\n",
            "werf.yaml:5:10: context directory \"nope\" does not exist",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ntarget: [x]\n",
            "werf.yaml:5:9: target must be a string",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nargs: [x]\n",
            "werf.yaml:5:7: args must be a map of NAME: value",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nargs: [1]\n",
            "werf.yaml:5:7: args must be a map of NAME: value",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\naddHost: {a: b}\n",
            "werf.yaml:5:10: addHost must be a list of strings",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nstaged: maybe\n",
            "werf.yaml:5:9: staged must be true or false",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndependencies:\n  - image: b\n",
            "werf.yaml:4:8: image \"a\" depends on unknown image \"b\"",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndependencies: [{image: b}]\n---\nimage: b\ndependencies: [{image: a}]\n",
            "werf.yaml:4:8: dependency cycle: a -> b -> a",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndependencies: [{image: a}]\n",
            "werf.yaml:4:8: dependency cycle: a -> a",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndependencies:\n  - image: b\n    imports: [{type: Nope, targetBuildArg: X}]\n---\nimage: b\n",
            "import type Nope is not one of ImageName",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\ndependencies:\n  - image: b\n    imports: [{type: ImageID}]\n---\nimage: b\n",
            "an import needs targetBuildArg",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nsecrets: [{foo: bar}]\n",
            "werf.yaml:5:10: each secret needs `env: NAME`, `src: PATH` or `value: TEXT` (with `id:`)",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nsecrets: [{value: v}]\n",
            "werf.yaml:5:10: a `value:` secret needs an `id:`",
        ),
        // Stapel images and artifacts: werf 1.1's validations, located.
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nshell: {install: x}\nansible: {install: []}\n",
            "werf.yaml:4:8: can not use shell and ansible builders at the same time!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nfromImage: b\n",
            "werf.yaml:4:8: conflict between `from`, `fromImage` and `fromImageArtifact` directives!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nshell: {install: x}\n",
            "werf.yaml:4:8: `from: DOCKER_IMAGE`, `fromImage: IMAGE_NAME`, `fromImageArtifact: IMAGE_ARTIFACT_NAME` required!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nartifact: x\nfrom: alpine\ndocker: {WORKDIR: /}\n",
            "werf.yaml:6:1: `docker` section is not supported for artifact!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nartifact: x\nfrom: alpine\n---\nimage: a\nfrom: alpine\nimport:\n- artifact: x\n  add: /out\n",
            "werf.yaml:10:3: import[0]: artifact stage is not specified with `before: install|setup` or `after: install|setup` for import!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfromImage: b\n---\nimage: b\nfrom: alpine\nimport: [{image: a, add: /x, after: setup}]\n",
            "werf.yaml:4:8: infinite loop detected: a -> b -> a",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfromImage: a\n",
            "cannot use own image name as `fromImage` directive value!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfromImage: nope\n",
            "werf.yaml:4:8: no such image `nope`!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ndocker:\n  STOPSIGNAL: TERM\n",
            "werf.yaml:7:3: docker: unknown key `STOPSIGNAL`",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ngit:\n- add: /src\n  to: /app\n  inclodePaths: [x]\n",
            "werf.yaml:9:3: git[0]: unknown key `inclodePaths` (did you mean `includePaths`?)",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ngit:\n- add: src\n  to: /app\n",
            "werf.yaml:7:8: git[0].add: `add: PATH` absolute path required for import!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ngit:\n- url: https://example.com/x.git\n  to: /app\n",
            "werf.yaml:7:3: git[0]: a remote mapping that follows a branch",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ngit:\n- url: https://example.com/x.git\n  tag: v1\n  commit: abc\n  to: /app\n",
            "werf.yaml:7:3: git[0]: specify only `branch: BRANCH`, `tag: TAG` or `commit: COMMIT` for remote git!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ngit:\n- add: /\n  tag: v1\n  to: /app\n",
            "werf.yaml:7:3: git[0]: specify `branch: BRANCH`, `tag: TAG` and `commit: COMMIT` only for remote git!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nfromLatest: true\n",
            "werf.yaml:6:13: `fromLatest: true` puts the registry's current digest",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ndockerfile: Dockerfile\n",
            "werf.yaml:6:1: unknown key `dockerfile` here: it belongs to Dockerfile images",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\ngit:\n- {add: /, to: /}\n- {add: /x, to: /}\n",
            "werf.yaml:4:8: Conflict between imports!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nmount:\n- {from: build_dir, fromPath: /x, to: /c}\n",
            "cannot use `from: build_dir` and `fromPath: /x` at the same time for mount!",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nansible:\n  install:\n  - name: pkgs\n    yum:\n      name: [curl]\n",
            "werf.yaml:9:5: ansible.install[0] (\"pkgs\"): module `yum` is refused: of the package managers Slipway translates `apt` only (there is no Alpine or RPM base to test a translation on); use `shell: yum install -y …`",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nansible:\n  install:\n  - name: pkgs\n    apt:\n      name: [curl]\n      cache_valid_time: 3600\n",
            "werf.yaml:11:7: ansible.install[0] (\"pkgs\"): apt.cache_valid_time is not supported yet (supported: name, pkg, package, state, update_cache, install_recommends, purge); use `shell:`",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nansible:\n  install:\n  - user: {name: app, password: x}\n",
            "werf.yaml:8:23: ansible.install[0]: user.password is not supported yet",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nansible:\n  install:\n  - get_url: {url: http://h/x, dest: /x, checksum: \"crc32:1\"}\n",
            "werf.yaml:8:14: ansible.install[0]: get_url: checksum algorithm \"crc32\" is not supported",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nansible:\n  install:\n  - lineinfile: {path: /x, line: y, insertafter: \"^a\"}\n",
            "werf.yaml:8:17: ansible.install[0]: lineinfile: insertafter=\"^a\" is not supported yet (EOF, BOF)",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\nansible:\n  install:\n  - shell: make\n    when: x\n",
            "werf.yaml:9:5: ansible.install[0]: task keyword `when` is not supported; use `shell:`",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\n---\nartifact: a\nfrom: alpine\n",
            "werf.yaml:7:11: conflict between image and artifact names!",
        ),
        (
            "project: demo\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references: {branch: /(/}\n",
            "werf.yaml:5:26: cleanup.keepPolicies[0].references.branch: invalid regex \"/(/\"",
        ),
        (
            "project: demo\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - imagesPerReference: {last: 1}\n",
            "werf.yaml:5:5: cleanup.keepPolicies[0]: a keep policy needs `references:`",
        ),
        (
            "project: demo\nconfigVersion: 1\n---\nimage: a\n  bad: indent\n",
            "werf.yaml:5:",
        ),
        (
            "project: demo\nconfigVersion: 1\nkey: [unclosed\n",
            "werf.yaml:",
        ),
        ("{{ if }}", "werf.yaml:1:"),
        (
            "project: {{ .Nope.Deeper }}\nconfigVersion: 1\n",
            "werf.yaml",
        ),
        (
            "image: a\n",
            "werf.yaml:1:1: the first document must be the meta document",
        ),
    ];
    for (yaml, want) in cases {
        let got = load(yaml)
            .err()
            .unwrap_or_else(|| panic!("{yaml:?} loaded, expected {want:?}"));
        assert!(got.contains(want), "{yaml:?}\n got: {got}\nwant: {want}");
    }
    assert!(cases.len() >= 40);
}

#[test]
fn all_errors_are_reported_at_once() {
    let err = load("project: demo\nconfigVersion: 3\n---\nimage: a\ntargte: x\n---\nimage: a\n")
        .expect_err("invalid");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        vec![
            "werf.yaml:2:16: configVersion must be 1, got 3",
            "werf.yaml:5:1: unknown key `targte` (did you mean `target`?)",
            "werf.yaml:7:8: duplicate image name \"a\"",
        ]
    );
}

#[test]
fn good_files_load_into_the_model() {
    let cfg = load(&format!(
        "{META}image: a\ntarget: t\nargs: {{N: 1, B: true, S: s}}\naddHost: [h:1.2.3.4]\ncontextAddFiles: x\nplatform: [linux/amd64]\nlabels: {{l: v}}\nsecrets: [{{env: TOKEN}}, {{src: f.txt, id: f}}, {{id: p, value: s3cr3t-v}}]\n---\nimage: b\ndockerfile: sub/Dockerfile\ndependencies:\n  - image: a\n    imports:\n      - type: ImageID\n        targetBuildArg: A_ID\n---\n---\n"
    ))
    .expect("valid");
    assert_eq!(cfg.project, "demo");
    let a = cfg
        .image(Some("a"))
        .and_then(|i| i.dockerfile())
        .expect("a");
    assert_eq!(a.args.get("N").map(String::as_str), Some("1"));
    assert_eq!(a.args.get("B").map(String::as_str), Some("true"));
    assert_eq!(a.add_host, vec!["h:1.2.3.4"]);
    assert_eq!(a.context_add_files, vec!["x"]);
    assert_eq!(a.target.as_deref(), Some("t"));
    assert_eq!(a.secrets.len(), 3);
    // A `value:` secret is never shown: not in Debug output, not in `config validate --json`.
    assert!(!format!("{:?}", a.secrets).contains("s3cr3t-v"));
    let json = serde_json::to_string(&a.secrets).expect("json");
    assert!(
        json.contains(r#""value":"***""#) && !json.contains("s3cr3t-v"),
        "{json}"
    );
    let b = cfg.image(Some("b")).expect("b");
    assert!(
        b.dockerfile()
            .is_some_and(|d| d.dockerfile_path.ends_with("sub/Dockerfile"))
    );
    assert_eq!(b.dependencies[0].image, "a");
    assert_eq!(
        b.dependencies[0].imports[0].target_build_arg.as_deref(),
        Some("A_ID")
    );
}

/// Load werf.yaml `yaml` in a project with a `Dockerfile` and the given files.
fn load_with(files: &[(&str, &str)], yaml: &str) -> Result<config::Config, String> {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }
    std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
    config::load(&settings(dir.path())).map_err(|e| e.to_string())
}

#[test]
fn errors_point_at_the_template_line_when_rendering_moves_lines() {
    // Lines removed by a comment above: the error is on the line the user wrote.
    let err = load("{{- /* two\nlines */ -}}\nproject: demo\nconfigVersion: 9\n").expect_err("bad");
    assert_eq!(err, "werf.yaml:4:16: configVersion must be 1, got 9");
}

#[test]
fn errors_inside_a_range_loop_point_at_the_loop_body() {
    let yaml = "project: demo\nconfigVersion: 1\n{{- range list \"a\" \"b\" \"c\" }}\n---\nimage: {{ . }}\n{{- if eq . \"b\" }}\ntargte: x\n{{- end }}\n{{- end }}\n";
    let err = load_with(&[], yaml).expect_err("bad");
    assert_eq!(
        err,
        "werf.yaml:7:1: unknown key `targte` (did you mean `target`?)"
    );
    // A bad value printed by an action: the action's position, the rendered line quoted.
    let yaml = "project: demo\nconfigVersion: 1\n{{- range list \"Dockerfile\" \"Nope\" }}\n---\nimage: {{ lower . }}\ndockerfile: {{ . }}\n{{- end }}\n";
    let err = load_with(&[], yaml).expect_err("bad");
    assert!(
        err.starts_with("werf.yaml:6:16: Dockerfile \"Nope\" not found"),
        "{err}"
    );
    assert!(
        err.contains("rendered line 8: \"dockerfile: Nope\""),
        "{err}"
    );
}

#[test]
fn errors_inside_an_included_partial_point_at_the_partial() {
    let partial = "{{- define \"svc\" }}\nimage: {{ .name }}\ndockerfile: Dockerfile\ncontxt: .\n{{- end }}\n";
    let yaml = "project: demo\nconfigVersion: 1\n---\n{{ include \"svc\" (dict \"name\" \"api\") }}\n---\n{{- include \"svc\" (dict \"name\" \"web\") | nindent 0 }}\n";
    let err = load_with(&[(".werf/svc.tmpl", partial)], yaml).expect_err("bad");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        vec![
            ".werf/svc.tmpl:4:1: unknown key `contxt` (did you mean `context`?)",
            ".werf/svc.tmpl:4:1: unknown key `contxt` (did you mean `context`?)",
        ]
    );
    // YAML syntax broken by a partial: located in the partial.
    let partial = "{{- define \"bad\" }}\nimage: x\nargs: [a\n{{- end }}\n";
    let yaml = "project: demo\nconfigVersion: 1\n---\n{{ include \"bad\" . }}\n";
    let err = load_with(&[(".werf/bad.tmpl", partial)], yaml).expect_err("bad");
    assert!(
        err.starts_with(".werf/bad.tmpl:") || err.starts_with("werf.yaml:4:"),
        "{err}"
    );
    assert!(err.contains("YAML syntax"), "{err}");
    // `tpl` of a file: located in that file.
    let yaml =
        "project: demo\nconfigVersion: 1\n---\n{{ tpl (.Files.Get \"images/one.yaml\") . }}\n";
    let err = load_with(
        &[("images/one.yaml", "image: one\n\nplatfrom: [x]\n")],
        yaml,
    )
    .expect_err("bad");
    assert_eq!(
        err,
        "images/one.yaml:3:1: unknown key `platfrom` (did you mean `platform`?)"
    );
}

#[test]
fn werf_directives_slipway_used_to_refuse() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(
        dir.path().join("werf.yaml"),
        "project: demo\nconfigVersion: 1\n---\nimage: [api, worker]\nargs: {MODE: 0755, N: 1e3, ON: on, Y: y, F: 1.5, S: \"0755\", L: [a, 1], E: ~, BIG: 12345678901}\nfinal: false\ncacheVersion: v2\n---\nimage: apiServer\nimageSpec: {author: me}\ndisableGitAfterPatch: true\n",
    )
    .expect("write");
    let cfg = config::load(&settings(dir.path())).expect("valid");
    let names: Vec<&str> = cfg.images.iter().map(|i| i.display_name()).collect();
    assert_eq!(names, vec!["api", "worker", "apiServer"]);
    let api = cfg
        .image(Some("api"))
        .and_then(|i| i.dockerfile())
        .expect("api");
    let worker = cfg
        .image(Some("worker"))
        .and_then(|i| i.dockerfile())
        .expect("worker");
    assert_eq!(api.args, worker.args);
    let args: Vec<(&str, &str)> = api
        .args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // As werf prints them: yaml.v2 (YAML 1.1) values through Go's `%v`.
    assert_eq!(
        args,
        vec![
            ("BIG", "12345678901"),
            ("E", "<nil>"),
            ("F", "1.5"),
            ("L", "[a 1]"),
            ("MODE", "493"),
            ("N", "1000"),
            ("ON", "true"),
            ("S", "0755"),
            ("Y", "true"),
        ]
    );
    // `final` and `imageSpec` are read (issue #43), no longer warned about.
    assert!(!cfg.image(Some("api")).expect("api").is_final);
    let spec = cfg
        .image(Some("apiServer"))
        .and_then(|i| i.image_spec.as_ref());
    assert_eq!(spec.map(|s| s.author.as_str()), Some("me"));
    let warnings: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    // `cacheVersion` is applied (issue 41): part of the signature, no warning.
    assert_eq!(
        cfg.image(Some("api"))
            .and_then(|i| i.cache_version.as_deref()),
        Some("v2")
    );
    assert!(
        warnings[0]
            .starts_with("werf.yaml:9:8: image name \"apiServer\" is accepted as werf accepts it")
            && warnings[0].ends_with("rename it `api-server`"),
        "{warnings:#?}"
    );
    assert!(
        warnings[1].contains("`disableGitAfterPatch`"),
        "{warnings:#?}"
    );
}

#[test]
fn dockerfile_paths_follow_the_werf_version() {
    use slipway::settings::WerfVersion;
    let project = |files: &[(&str, &str)]| {
        let dir = tempfile::tempdir().expect("tmp");
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
        }
        std::fs::write(
            dir.path().join("werf.yaml"),
            "project: demo\nconfigVersion: 1\n---\nimage: app\ncontext: app\ndockerfile: docker/Dockerfile\n",
        )
        .expect("write");
        dir
    };
    let load_as = |dir: &Path, v: Option<WerfVersion>| {
        config::load(&Settings {
            werf_version: v,
            ..settings(dir)
        })
    };
    let rel = |cfg: &config::Config, dir: &Path| {
        let path = &cfg.images[0]
            .dockerfile()
            .expect("dockerfile")
            .dockerfile_path;
        path.strip_prefix(dir.canonicalize().unwrap_or(dir.to_path_buf()))
            .or_else(|_| path.strip_prefix(dir))
            .expect("inside")
            .display()
            .to_string()
    };
    // Only context-relative (werf ≥ 1.2): used, no warning.
    let d = project(&[("app/docker/Dockerfile", "FROM a\n")]);
    let cfg = load_as(d.path(), None).expect("valid");
    assert_eq!(rel(&cfg, d.path()), "app/docker/Dockerfile");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    // Only project-relative (werf 1.1): used, with a located warning.
    let d = project(&[("app/x", ""), ("docker/Dockerfile", "FROM b\n")]);
    let cfg = load_as(d.path(), None).expect("valid");
    assert_eq!(rel(&cfg, d.path()), "docker/Dockerfile");
    assert_eq!(cfg.warnings.len(), 1);
    assert!(
        cfg.warnings[0]
            .to_string()
            .starts_with("werf.yaml:6:13: dockerfile \"docker/Dockerfile\": using docker/Dockerfile (relative to the project directory"),
        "{}",
        cfg.warnings[0]
    );
    // --werf-version 2 does not fall back.
    let err = load_as(d.path(), Some(WerfVersion::V2)).expect_err("not found");
    assert!(err.to_string().contains("werf.yaml:6:13: Dockerfile \"docker/Dockerfile\" not found (looked for app/docker/Dockerfile)"), "{err}");
    // Both, different: a located error naming both and the flag; the flag picks.
    let d = project(&[
        ("app/docker/Dockerfile", "FROM a\n"),
        ("docker/Dockerfile", "FROM b\n"),
    ]);
    let err = load_as(d.path(), None).expect_err("ambiguous").to_string();
    assert!(err.starts_with("werf.yaml:6:13: dockerfile \"docker/Dockerfile\" names two different files: app/docker/Dockerfile"), "{err}");
    assert!(
        err.contains("docker/Dockerfile (relative to the project directory")
            && err.contains("--werf-version 1.1")
            && err.contains("SLIPWAY_WERF_VERSION"),
        "{err}"
    );
    let cfg = load_as(d.path(), Some(WerfVersion::V1_1)).expect("1.1");
    assert_eq!(rel(&cfg, d.path()), "docker/Dockerfile");
    let cfg = load_as(d.path(), Some(WerfVersion::V2)).expect("2");
    assert_eq!(rel(&cfg, d.path()), "app/docker/Dockerfile");
    // Both, same content: no question to ask.
    let d = project(&[
        ("app/docker/Dockerfile", "FROM a\n"),
        ("docker/Dockerfile", "FROM a\n"),
    ]);
    let cfg = load_as(d.path(), None).expect("same file content");
    assert_eq!(rel(&cfg, d.path()), "app/docker/Dockerfile");
    // Neither: the error names both places looked in.
    let d = project(&[("app/x", "")]);
    let err = load_as(d.path(), None).expect_err("missing").to_string();
    assert!(
        err.contains("(looked for app/docker/Dockerfile or docker/Dockerfile)"),
        "{err}"
    );
}

#[test]
fn werf_version_flag_and_variable_reach_the_settings() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("app")).expect("mkdir");
    std::fs::write(dir.path().join("app/Dockerfile"), "FROM a\n").expect("write");
    std::fs::write(dir.path().join("Dockerfile"), "FROM b\n").expect("write");
    std::fs::write(
        dir.path().join("werf.yaml"),
        "project: demo\nconfigVersion: 1\n---\nimage: app\ncontext: app\n",
    )
    .expect("write");
    let run = |args: &[&str], var: Option<&str>| {
        let mut cmd = support::slipway();
        cmd.current_dir(dir.path())
            .args(["config", "validate"])
            .args(args);
        if let Some(v) = var {
            cmd.env("SLIPWAY_WERF_VERSION", v);
        }
        cmd.output().expect("run")
    };
    let out = run(&[], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--werf-version"));
    assert!(run(&["--werf-version", "1.1"], None).status.success());
    assert!(run(&[], Some("2")).status.success());
    let bad = run(&["--werf-version", "3"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("choose 1.1 or 2"));
}

#[test]
fn image_name_suggestions_follow_docker_rules() {
    use slipway::config::load::suggest_image_name;
    for (name, want) in [
        ("apiServer", "api-server"),
        ("_base", "base"),
        ("My App", "my-app"),
        ("HTTPProxy", "httpproxy"),
        ("a..b", "a.b"),
        ("-a", "a"),
        ("svc/WebUI", "svc/web-ui"),
    ] {
        assert_eq!(suggest_image_name(name), want, "{name}");
    }
}

#[test]
fn examples_validate_from_the_cli() {
    for project in ["shop", "hello", "stapel"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(project);
        support::slipway()
            .args(["--dir"])
            .arg(&dir)
            .args(["config", "validate"])
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .assert()
            .success();
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("werf.yaml"),
        "project: x\nconfigVersion: 2\n",
    )
    .expect("write");
    support::slipway()
        .arg("--dir")
        .arg(dir.path())
        .args(["config", "validate"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "werf.yaml:2:16: configVersion must be 1, got 2",
        ));
}

/// werf 1.1's validation of `cleanup:` (pkg/config/raw_meta_cleanup.go), each error at its
/// own key or value.
#[test]
fn cleanup_section_is_validated_as_werf_does() {
    let head = "project: demo\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n";
    let cases: &[(&str, &str)] = &[
        (
            "  - references:\n      branch: main\n      tag: v1\n",
            "werf.yaml:7:12: cleanup.keepPolicies[0].references: specify only one of `branch: string|/REGEX/` or `tag: string|/REGEX/`",
        ),
        (
            "  - references:\n      branch: /.*/\n      limit:\n        in: foo\n",
            "werf.yaml:8:13: cleanup.keepPolicies[0].references.limit.in: \"foo\" is not a duration",
        ),
        (
            "  - references:\n      branch: /.*/\n    imagesPerReference:\n      in: 7d\n",
            "werf.yaml:8:11: cleanup.keepPolicies[0].imagesPerReference.in: \"7d\" is not a duration",
        ),
        (
            "  - references:\n      branch: /.*/\n      limit:\n        last: 2\n        in: 168h\n        operator: or\n",
            "werf.yaml:10:19: cleanup.keepPolicies[0].references.limit.operator: unsupported value \"or\"",
        ),
        (
            "  - references:\n      branch: /.*/\n    imagesPerReference:\n      last: many\n",
            "werf.yaml:8:13: cleanup.keepPolicies[0].imagesPerReference.last must be an integer",
        ),
        (
            "  - references:\n      branch: /.*/\n    imagesPerRef:\n      last: 1\n",
            "werf.yaml:7:5: cleanup.keepPolicies[0]: unknown key `imagesPerRef`",
        ),
        (
            "  - references:\n      branches: main\n",
            "werf.yaml:6:7: cleanup.keepPolicies[0].references: unknown key `branches` (did you mean `branch`?)",
        ),
        (
            "  - references:\n      branch: /.*/\n      limit: {last: 1, within: 2h}\n",
            "cleanup.keepPolicies[0].references.limit: unknown key `within`",
        ),
    ];
    for (policies, want) in cases {
        let yaml = format!("{head}{policies}");
        let got = load(&yaml)
            .err()
            .unwrap_or_else(|| panic!("{yaml}\nloaded, expected {want:?}"));
        assert!(got.contains(want), "{yaml}\n got: {got}\nwant: {want}");
    }
    let got = load("project: demo\nconfigVersion: 1\ncleanup:\n  disabled: true\n")
        .expect_err("unknown cleanup key");
    assert!(
        got.contains("werf.yaml:4:3: cleanup: unknown key `disabled` (did you mean `disable`?)"),
        "{got}"
    );
    // What werf accepts, as the model holds it.
    let cfg = load(&format!(
        "{head}  - references:\n      branch: main\n  - references:\n      tag: /^v[0-9.]+$/\n      limit: {{last: 3, in: 1h30m, operator: Or}}\n    imagesPerReference: {{last: -1}}\n  disable: true\n  disableKubernetesBasedPolicy: true\n",
    ))
    .expect("valid cleanup");
    let p = cfg.cleanup.keep_policies.expect("policies");
    assert_eq!(p[0].references.branch.as_deref(), Some("^main$"));
    assert_eq!(p[1].references.tag.as_deref(), Some("^v[0-9.]+$"));
    let l = p[1].references.limit.as_ref().expect("limit");
    assert_eq!(l.in_, Some(std::time::Duration::from_secs(5400)));
    assert_eq!(l.operator, config::LimitOperator::Or);
    assert!(cfg.cleanup.disable && cfg.cleanup.disable_kubernetes_based_policy);
    assert!(!cfg.cleanup.disable_git_history_based_policy);
    // An empty list means werf's defaults.
    let cfg =
        load("project: demo\nconfigVersion: 1\ncleanup:\n  keepPolicies: []\n").expect("empty");
    assert!(cfg.cleanup.keep_policies.is_none());
}

/// Render `src` as werf.yaml in a project with the given files (and `.werf/` partials).
fn render_in(files: &[(&str, &str)], vars: &[(&str, &str)], src: &str) -> Result<String, String> {
    use slipway::config::render::{RenderInput, render};
    let dir = tempfile::tempdir().expect("tmp");
    let mut partials = Vec::new();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        if path.starts_with(".werf/") && path.ends_with(".tmpl") {
            partials.push((path.to_string(), text.to_string()));
        }
    }
    let input = RenderInput {
        dir: dir.path().to_path_buf(),
        env: Some("staging".into()),
        partials,
        templates_prefix: None,
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    render("werf.yaml", src, &input).map_err(|e| e.to_string())
}

#[test]
fn templates_render_as_werf_renders_them() {
    // `set` twice on the root: each document between sees its own value.
    let out = render_in(
        &[],
        &[],
        "{{ $_ := set . \"Base\" \"alpine\" }}image: a\nfrom: {{ .Base }}\n---\n{{ $_ := set . \"Base\" \"debian\" }}image: b\nfrom: {{ .Base }}\n",
    )
    .expect("render");
    assert_eq!(out, "image: a\nfrom: alpine\n---\nimage: b\nfrom: debian\n");

    // `set` on a dict other than the root changes that dict everywhere it is held.
    let out = render_in(
        &[],
        &[],
        "{{ $d := dict \"a\" 1 }}{{ $e := $d }}{{ $_ := set $e \"b\" 2 }}{{ $d | toJson }}",
    )
    .expect("render");
    assert_eq!(out, "{\"a\":1,\"b\":2}");

    // `required` of a value that `set` provided; and of one that is missing.
    let out = render_in(
        &[],
        &[],
        "{{ $_ := set . \"Tag\" \"v1\" }}{{ required \"Tag is needed\" .Tag }}",
    )
    .expect("render");
    assert_eq!(out, "v1");
    let err = render_in(&[], &[], "a: 1\nb: {{ required \"\" .Nope }}").expect_err("fails");
    assert_eq!(
        err,
        "werf.yaml: template: werf.yaml:2:6: executing \"werf.yaml\" at <required \"\" .Nope>: error calling required: "
    );

    // `.Files.Get` through a variable holding the root.
    let out = render_in(
        &[("conf/app.txt", "hello")],
        &[],
        "{{ $root := . }}{{ range list 1 }}{{ $root.Files.Get \"conf/app.txt\" }}{{ end }}",
    )
    .expect("render");
    assert_eq!(out, "hello");

    // `.werf/` partials are named by their path inside `.werf/`.
    let out = render_in(
        &[
            (".werf/worker.tmpl", "worker-{{ .Env }}"),
            (".werf/sub/x.tmpl", "{{ define \"x\" }}X{{ end }}"),
        ],
        &[],
        "{{ include \"worker.tmpl\" . }} {{ include \"sub/x.tmpl\" . }}{{ include \"x\" . }}",
    )
    .expect("render");
    assert_eq!(out, "worker-staging X");

    // `tpl` shares the template set both ways.
    let out = render_in(
        &[],
        &[],
        "{{ define \"w\" }}W{{ . }}{{ end }}{{ tpl \"{{ define \\\"t\\\" }}T{{ end }}{{ include \\\"w\\\" 1 }}\" . }}-{{ include \"t\" . }}",
    )
    .expect("render");
    assert_eq!(out, "W1-T");

    // sprig in pipelines, werf's env with a default.
    let out = render_in(
        &[],
        &[("LONG", "feature-branch-name")],
        "{{ env \"UNSET_X\" \"dflt\" | trunc 12 | trimSuffix \"-\" }} {{ env \"LONG\" \"dflt\" | trunc 8 | trimSuffix \"-\" }}",
    )
    .expect("render");
    assert_eq!(out, "dflt feature");
    let out = render_in(
        &[],
        &[],
        "{{ base \"a/b/Dockerfile\" }} {{ dir \"a/b/Dockerfile\" }}",
    )
    .expect("render");
    assert_eq!(out, "Dockerfile a/b");

    // `.Files.Get … | fromYaml`.
    let out = render_in(
        &[("m.yaml", "images:\n  - name: api\n    port: 8080\n")],
        &[],
        "{{ $m := .Files.Get \"m.yaml\" | fromYaml }}{{ range $m.images }}{{ .name }}:{{ .port }}{{ end }}",
    )
    .expect("render");
    assert_eq!(out, "api:8080");

    // `index` with one argument is the value itself; indent of text with a newline.
    let out = render_in(
        &[],
        &[],
        "{{ $x := list 1 2 }}{{ index $x }}|{{ \"line\\n\" | indent 2 }}|",
    )
    .expect("render");
    assert_eq!(out, "[1 2]|  line\n  |");
}

#[test]
fn files_cannot_leave_the_repository_through_a_link() {
    let dir = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).expect("symlink");
    let input = slipway::config::render::RenderInput {
        dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let err = slipway::config::render::render("werf.yaml", "{{ .Files.Get \"passwd\" }}", &input)
        .expect_err("refused");
    assert!(err.to_string().contains("outside the repository"), "{err}");
    let err = slipway::config::render::render("werf.yaml", "{{ .Files.Get \"../x\" }}", &input)
        .expect_err("refused");
    assert!(
        err.to_string().contains("outside the project directory"),
        "{err}"
    );
}

#[test]
fn files_may_use_parent_paths_inside_the_git_work_tree() {
    let repo = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(repo.path().join(".git")).expect("git dir");
    std::fs::create_dir_all(repo.path().join("project")).expect("project dir");
    std::fs::write(repo.path().join("shared.txt"), "shared").expect("write");
    let input = slipway::config::render::RenderInput {
        dir: repo.path().join("project"),
        ..Default::default()
    };
    let out =
        slipway::config::render::render("werf.yaml", "{{ .Files.Get \"../shared.txt\" }}", &input)
            .expect("inside the repository");
    assert_eq!(out, "shared");
    let err = slipway::config::render::render("werf.yaml", "{{ .Files.Get \"../../x\" }}", &input)
        .expect_err("outside the repository");
    assert!(
        err.to_string().contains("outside the project directory"),
        "{err}"
    );
}

#[test]
fn stapel_documents_load_into_the_model() {
    use slipway::config::stapel::{Base, DockerCommand, ImportPosition, UserStage};
    let cfg = load(
        "project: demo\nconfigVersion: 1\n---\nartifact: my art\nfrom: alpine:3\nshell:\n  install: make\n---\nimage: [a, b]\nfrom: alpine:3\nfromCacheVersion: 0755\ngit:\n- to: /app\n  excludePaths: werf.yaml\n- add: /assets/\n  to: /app/static\n  owner: app\nshell:\n  beforeInstall: echo one\n  setup:\n  - echo a\n  - |\n    echo b\n    echo c\n  cacheVersion: 2\nimport:\n- artifact: my art\n  add: /out/bin\n  before: setup\ndocker:\n  ENV: {B: x y}\n  ENTRYPOINT: [/bin/echo]\n  CMD: sleep 1\n---\nimage: c\nfromImage: a\n",
    )
    .expect("loads");
    let names: Vec<_> = cfg.images.iter().map(|i| i.display_name()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(cfg.artifacts.len(), 1);
    assert!(cfg.artifacts[0].is_artifact());
    let a = cfg.images[0].stapel().expect("stapel");
    assert_eq!(a.base, Base::From("alpine:3".into()));
    // yaml.v2 keeps the text; the YAML 1.1 octal reading gives 493 here.
    assert!(a.from_cache_version.is_some());
    assert_eq!(a.git[0].add, "/");
    // werf's auto-exclude: the nested mapping's region is left out of the outer one.
    assert_eq!(a.git[0].exclude_paths, ["werf.yaml", "static"]);
    assert_eq!(a.git[1].add, "/assets");
    assert_eq!(a.git[1].owner.as_deref(), Some("app"));
    let sh = a.shell.as_ref().expect("shell");
    assert_eq!(sh.stage(UserStage::Setup).len(), 2);
    assert_eq!(sh.stage(UserStage::Setup)[1].text, "echo b\necho c\n");
    assert!(
        sh.has_stage(UserStage::Install),
        "cacheVersion brings every stage"
    );
    assert_eq!(a.imports[0].to, "/out/bin");
    assert_eq!(a.imports[0].position, ImportPosition::BeforeSetup);
    let d = a.docker.as_ref().expect("docker");
    assert_eq!(d.env["B"], "x y");
    assert_eq!(
        d.entrypoint,
        Some(DockerCommand::Exec(vec!["/bin/echo".into()]))
    );
    assert_eq!(d.cmd, Some(DockerCommand::Shell("sleep 1".into())));
    // Sources are build dependencies.
    assert_eq!(cfg.images[0].dependencies[0].image, "my art");
    assert_eq!(cfg.images[2].dependencies[0].image, "a");
}

/// `slipway --dir DIR config validate` under `ulimit -v` of 1 GiB: its exit code, stderr and
/// wall time.
fn validate_in_one_gib(dir: &Path) -> (Option<i32>, String, std::time::Duration) {
    let mut cmd = support::slipway()
        .project(dir)
        .args(["config", "validate"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .via("sh", &["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\""]);
    let start = std::time::Instant::now();
    let out = cmd.output().expect("run slipway");
    let took = start.elapsed();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        took,
    )
}

/// A project whose werf.yaml is `yaml`, validated under 1 GiB: must fail within 30 s with
/// an error containing each of `want`.
fn hostile(yaml: &str, want: &[&str]) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
    let (code, err, took) = validate_in_one_gib(dir.path());
    eprintln!("config validate: exit {code:?} after {took:?}: {err}");
    assert_eq!(code, Some(1), "{err}");
    for w in want {
        assert!(err.contains(w), "want {w:?} in: {err}");
    }
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
}

/// Finding 38.7a: a 500 MB werf.yaml (sparse) is refused with its size, unread.
#[test]
fn a_huge_werf_yaml_is_refused_with_its_size() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = std::fs::File::create(dir.path().join("werf.yaml")).expect("create");
    f.set_len(500_000_000).expect("sparse file");
    let (code, err, took) = validate_in_one_gib(dir.path());
    eprintln!("config validate: exit {code:?} after {took:?}: {err}");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("werf.yaml: the file is 476.8 MiB (500000000 bytes): larger than the 16 MiB a werf.yaml or partial may be"),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
}

/// Finding 38.7b: the self-doubling template recursion (Go and werf grow it until the OOM
/// killer comes) ends at the budget, located at the doubling action.
#[test]
fn the_self_doubling_template_ends_at_the_budget() {
    hostile(
        "{{ define \"d\" }}{{ template \"d\" (print . .) }}{{ end }}\nproject: demo\nconfigVersion: 1\nx: {{ template \"d\" \"x\" }}\n",
        &[
            "werf.yaml: template: werf.yaml:1:33: executing \"d\" at <print . .>: error calling print:",
            "over the budget of 64 MiB",
        ],
    );
}

/// Finding 38.7c: `repeat` with a huge count.
#[test]
fn a_repeat_bomb_ends_at_the_budget() {
    hostile(
        "project: demo\nconfigVersion: 1\nx: {{ repeat 1000000000000 \"bomb\" }}\n",
        &[
            "werf.yaml: template: werf.yaml:3:6: executing \"werf.yaml\" at <repeat 1000000000000 \"bomb\">: error calling repeat:",
            "to 3.6 TiB, over the budget of 64 MiB",
        ],
    );
}

/// Finding 38.7d: `until` with a huge count, and a `range` over it.
#[test]
fn an_until_bomb_ends_at_the_budget() {
    hostile(
        "project: demo\nconfigVersion: 1\n{{- range until 100000000000 }}\n---\nimage: i{{ . }}\n{{- end }}\n",
        &[
            "werf.yaml: template: werf.yaml:3:10: executing \"werf.yaml\" at <until 100000000000>: error calling until:",
            "over the budget of 64 MiB",
        ],
    );
}

/// Finding 38.7e: bytes that are not UTF-8 are reported at their line and column.
#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(
        dir.path().join("werf.yaml"),
        b"project: demo\nconfigVersion: 1\n# caf\xc3\xa9 \xff\xfe\n".as_slice(),
    )
    .expect("write");
    let err = config::load(&settings(dir.path()))
        .expect_err("not UTF-8")
        .to_string();
    assert_eq!(
        err,
        "werf.yaml:3:8: invalid UTF-8 (byte 0xff): werf.yaml and its partials must be UTF-8 text"
    );
}

/// `image: NAME` (and `image: [ok, NAME]`) refused at the name, with `why`.
fn refused_name(name: &str, why: &str) {
    let err = load(&format!("{META}image: ok\n---\nimage: {name}\n")).expect_err(name);
    assert!(
        err.starts_with(&format!(
            "werf.yaml:6:8: image name \"{name}\" is reserved: {why}"
        )),
        "{err}"
    );
    let err = load(&format!("{META}image: [ok, {name}]\n")).expect_err(name);
    assert!(
        err.starts_with(&format!(
            "werf.yaml:4:8: image name \"{name}\" is reserved: {why}"
        )),
        "{err}"
    );
}

/// Finding 38.9a: `slipway-meta` is the commit-record repository.
#[test]
fn the_commit_record_repository_is_not_an_image_name() {
    refused_name(
        "slipway-meta",
        "`slipway-meta` is where Slipway keeps its commit records (next to the images): `purge` and `cleanup` would delete them with this image's tags",
    );
}

/// Finding 38.9b: in monorepo mode (`REPO:IMAGE-TAG`) no image's tags may start with
/// `sha256-`, the OCI referrers tag schema; in multirepo mode the same names are fine.
#[test]
fn monorepo_image_names_giving_sha256_tags_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(
        dir.path().join("werf.yaml"),
        format!("{META}image: sha256\n---\nimage: sha256-tools\n"),
    )
    .expect("write");
    config::load(&settings(dir.path())).expect("multirepo: REPO/sha256:TAG is fine");
    let mono = Settings {
        dir: dir.path().to_path_buf(),
        images_repo: Some("127.0.0.1:5000/shop".into()),
        images_repo_mode: slipway::settings::RepoMode::Monorepo,
        ..Settings::default()
    };
    let err = config::load(&mono).expect_err("monorepo").to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("werf.yaml:4:8: image name \"sha256\" is reserved: in monorepo mode (`REPO:IMAGE-TAG`) its tags would start with `sha256-`, the tag schema of OCI referrers"),
        "{err}"
    );
    assert!(
        lines[1].starts_with(
            "werf.yaml:6:8: image name \"sha256-tools\" is reserved: in monorepo mode"
        ),
        "{err}"
    );
    // From the command line: the same error, and exit 1.
    support::slipway()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "--images-repo",
            "127.0.0.1:5000/shop",
            "--images-repo-mode",
            "monorepo",
            "config",
            "validate",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "werf.yaml:4:8: image name \"sha256\" is reserved",
        ));
}

/// Finding 38.9c: werf's record prefixes as image names.
#[test]
fn werf_record_prefixes_are_not_image_names() {
    for p in ["managed-image-", "image-metadata-by-commit-", "client-id-"] {
        refused_name(
            &format!("{p}x"),
            &format!("werf keeps its own records under the prefix `{p}`"),
        );
    }
}
