//! Python's usual imports, as far as they can be honoured hermetically: `getpass.getuser()`
//! from the load's user, `os.environ`/`os.getenv` from its environment, `os.path`'s string
//! functions, `json.dumps`/`json.loads` with Python's formatting, `re` as Python's (within a
//! linear-time engine), `from __future__` as a no-op.

use std::collections::BTreeMap;

use aurora_config::{LoadOptions, load_str};
use pretty_assertions::assert_eq;

fn options() -> LoadOptions {
    LoadOptions {
        bindings: Vec::new(),
        env: BTreeMap::from([
            ("HOME".to_string(), "/home/carol".to_string()),
            ("CLUSTER".to_string(), "west".to_string()),
        ]),
        user: Some("carol".to_string()),
    }
}

/// The command line of the one process of the one job `source` defines, after `prelude`.
fn cmdline(prelude: &str, cmdline: &str) -> String {
    let source = format!(
        "{prelude}\njobs = [Job(cluster = 'c', role = 'r', environment = 'e', \
         task = SimpleTask('t', {cmdline}))]\n"
    );
    let loaded =
        load_str("imports.aurora", &source, &options()).unwrap_or_else(|e| panic!("{e}\n{source}"));
    loaded.jobs[0].task.executor.processes[0].cmdline.clone()
}

#[test]
fn getuser_returns_the_user_the_loader_was_given() {
    let source = "import getpass\n\nclass Profile(Struct):\n  role = Default(String, getpass.getuser())\n\n\
                  jobs = [Job(cluster = 'c', role = '{{profile.role}}', environment = 'e',\n  \
                  task = SimpleTask('t', 'true')).bind(profile = Profile())]\n";
    let loaded = load_str("imports.aurora", source, &options()).expect("loads");
    assert_eq!(loaded.jobs[0].key_string(), "c/carol/e/t");
    let from = "from getpass import getuser as who\n";
    assert_eq!(cmdline(from, "'echo ' + who()"), "echo carol");
}

#[test]
fn the_environment_is_the_one_given() {
    let prelude = "import os\nfrom os import environ, getenv";
    assert_eq!(
        cmdline(
            prelude,
            "' '.join([os.environ['HOME'], environ.get('NOPE', 'none'), \
             str('CLUSTER' in os.environ), str('PATH' in os.environ), \
             getenv('NOPE', default = 'd'), str(os.getenv('NOPE'))])"
        ),
        "/home/carol none True False d None"
    );
}

#[test]
fn os_path_works_on_strings() {
    let prelude = "import os.path\nfrom os import path as p\nfrom os.path import join";
    assert_eq!(
        cmdline(
            prelude,
            "' '.join([os.path.join('/srv', 'app/', 'bin'), join('a', '/abs', 'x'), \
             p.basename('/srv/app.tar.gz'), p.dirname('/srv/app/'), p.dirname('file')])"
        ),
        "/srv/app/bin /abs/x app.tar.gz /srv/app "
    );
}

#[test]
fn json_dumps_writes_what_python_writes() {
    let prelude = "from __future__ import print_function, absolute_import\nimport json\n\
                   print('printing is dropped')\n\
                   data = {'b': [1, 2.5, True, None], 'a': 'é\"x', 'n': {}, 'l': []}";
    assert_eq!(
        cmdline(prelude, "json.dumps(data)"),
        r#"{"b": [1, 2.5, true, null], "a": "\u00e9\"x", "n": {}, "l": []}"#
    );
    assert_eq!(
        cmdline(
            prelude,
            "json.dumps(data, sort_keys = True, indent = 2, ensure_ascii = False)"
        ),
        "{\n  \"a\": \"é\\\"x\",\n  \"b\": [\n    1,\n    2.5,\n    true,\n    null\n  ],\n  \
         \"l\": [],\n  \"n\": {}\n}"
    );
    assert_eq!(
        cmdline(prelude, "json.dumps([1e16, 0.1], separators = (',', ':'))"),
        "[1e+16,0.1]"
    );
}

#[test]
fn json_loads_gives_starlark_values() {
    let prelude = "import json\nd = json.loads('{\"port\": 8080, \"hosts\": [\"a\", \"b\"], \"ratio\": 0.5, \"on\": true}')";
    assert_eq!(
        cmdline(
            prelude,
            "'%d %s %s %s' % (d['port'] + 1, ','.join(d['hosts']), d['ratio'], d['on'])"
        ),
        "8081 a,b 0.5 True"
    );
    let e = load_str(
        "imports.aurora",
        "import json\nx = json.loads('{')\n",
        &options(),
    )
    .expect_err("truncated JSON");
    assert_eq!((e.line, e.column), (2, 5));
    assert!(e.message.starts_with("json.loads(): EOF"), "{e}");
}

#[test]
fn re_matches_substitutes_and_splits_as_python_does() {
    let prelude = "import re\nfrom re import sub\n\
                   m = re.match(r'(?P<name>[a-z]+)-(\\d+)', 'web-42-x')\n\
                   nope = re.match(r'\\d', 'web-42')\n\
                   found = re.search(r'\\d+', 'web-42')\n\
                   VERSION = re.compile(r'v(\\d+)\\.(\\d+)', re.IGNORECASE)";
    assert_eq!(
        cmdline(
            prelude,
            "' '.join([m.group(), m.group('name'), m.group(2), str(m.groups()), \
             str(m.span(2)), str(m.groupdict()), str(nope), found.group(0), \
             str(found.start()), str(re.fullmatch('web', 'webs'))])"
        ),
        "web-42 web 42 (\"web\", \"42\") (4, 6) {\"name\": \"web\"} None 42 4 None"
    );
    assert_eq!(
        cmdline(
            prelude,
            "' '.join([sub(r'[^a-z0-9]+', '_', 'my app.v2'), \
             re.sub(r'(\\w+)@(\\w+)', r'\\2 at \\g<1>', 'me@host you@there', count = 1), \
             VERSION.sub(r'\\g<2>.\\1', 'V1.2'), str(VERSION.match('x1.2')), \
             '|'.join(re.split(r'[,;]\\s*', 'a, b;c')), str(re.split(r'(-)', 'a-b')), \
             str(re.findall(r'(\\w)=(\\d)', 'a=1 b=2')), str(re.findall(r'\\d', 'a1b2')), \
             re.escape('a.b c')])"
        ),
        "my_app_v2 host at me you@there 2.1 None a|b|c [\"a\", \"-\", \"b\"] \
         [(\"a\", \"1\"), (\"b\", \"2\")] [\"1\", \"2\"] a\\.b\\ c"
    );
    let e = load_str(
        "imports.aurora",
        "import re\nx = 1\ny = re.match(r'a(?=b)', 'ab')\n",
        &options(),
    )
    .expect_err("look-around");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("no look-around"), "{e}");
}
