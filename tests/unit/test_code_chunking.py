"""Source code -> one section per function/class, with `file > class > def` section paths."""

from __future__ import annotations

import textwrap

import pytest

from ingest.chunking import ChunkingConfig, chunk_blocks
from ingest.formats.code import partition_code
from ingest.formats.code_scan import brace_depths

PYTHON = textwrap.dedent(
    '''\
    """Deploy helpers."""
    import subprocess

    RETRIES = 3


    @dataclass
    class Deployer(Base):
        """Rolls services forward and back."""

        region = "eu-central-1"

        def __init__(self, service):
            self.service = service

        @retry(3)
        async def rollback(self, sha, *, dry_run=False, **flags):
            """Go back to `sha`; rollbacks skip canary."""
            return await self._run("rollback", sha)

        class Plan:
            def steps(self):
                return []


    def main(*argv):
        Deployer(argv[0]).rollback(argv[1])


    if __name__ == "__main__":
        main()
    '''
)


def sections(text: str, name: str, language: str) -> dict[str, str]:
    chunks = chunk_blocks(partition_code(name, text, language))
    assert all(c.language == language for c in chunks)
    got: dict[str, str] = {}
    for c in chunks:  # a section can come back (module code after the last definition)
        got[c.section_path] = (
            f"{got[c.section_path]}\n{c.text}" if c.section_path in got else c.text
        )
    return got


def test_python_sections_follow_the_ast() -> None:
    got = sections(PYTHON, "deployer.py", "python")
    assert list(got) == [
        "deployer.py",
        "deployer.py > class Deployer(Base)",
        "deployer.py > class Deployer(Base) > def __init__(self, service)",
        "deployer.py > class Deployer(Base) > async def rollback(self, sha, *, dry_run, **flags)",
        "deployer.py > class Deployer(Base) > class Plan",
        "deployer.py > class Deployer(Base) > class Plan > def steps(self)",
        "deployer.py > def main(*argv)",
    ]
    rollback = got[
        "deployer.py > class Deployer(Base) > async def rollback(self, sha, *, dry_run, **flags)"
    ]
    assert rollback.lstrip().startswith("@retry(3)"), "decorators belong to their function"
    assert "rollbacks skip canary" in rollback
    assert got["deployer.py > class Deployer(Base)"].startswith("@dataclass\nclass Deployer")
    assert 'region = "eu-central-1"' in got["deployer.py > class Deployer(Base)"]
    # module code before and after the definitions stays under the file itself
    assert "RETRIES = 3" in got["deployer.py"] and "__main__" in got["deployer.py"]


def test_python_that_does_not_parse_falls_back_to_indentation() -> None:
    broken = PYTHON.replace("RETRIES = 3", "RETRIES = = 3")
    got = sections(broken, "deployer.py", "python")
    assert "deployer.py > class Deployer(Base) > def __init__(self, service)" in got
    assert any(path.endswith("def main(*argv)") for path in got)
    assert any("@retry(3)" in text for text in got.values())


GO = """package deploy

import "fmt"

// Deployer rolls services.
type Deployer struct {
\tname string
}

// Rollback reverts to sha. Braces in strings do not count: "}"
func (d *Deployer) Rollback(sha string) error {
\tif sha == "" {
\t\treturn fmt.Errorf("no sha given }")
\t}
\tr := '{'
\t_ = r
\treturn nil
}

func helper() int { return 1 }
"""


def test_go_functions_and_methods() -> None:
    got = sections(GO, "deploy.go", "go")
    assert list(got) == [
        "deploy.go",
        "deploy.go > type Deployer struct",
        "deploy.go > func (d *Deployer) Rollback(sha string) error",
        "deploy.go > func helper() int",
    ]
    body = got["deploy.go > func (d *Deployer) Rollback(sha string) error"]
    assert body.startswith("// Rollback reverts") and body.rstrip().endswith("return nil\n}")


TYPESCRIPT = """import { client } from "./client";

/** Deploys one service. */
export class Deployer extends Base {
  private name = "a";

  constructor(name: string) {
    super();
    this.name = name;
  }

  async rollback(sha: string): Promise<void> {
    if (!sha) { throw new Error("}"); }
    const msg = `rolling back ${sha} }`;
  }
}

export const handler = async (req: Request) => {
  return client.send(req);
};
"""


def test_typescript_class_members_and_arrow_functions() -> None:
    got = sections(TYPESCRIPT, "deployer.ts", "typescript")
    cls = "deployer.ts > export class Deployer extends Base"
    assert f"{cls} > constructor(name: string)" in got
    assert f"{cls} > async rollback(sha: string): Promise<void>" in got
    assert "deployer.ts > export const handler = async (req: Request) =>" in got
    assert got[cls].startswith("/** Deploys one service. */")


@pytest.mark.parametrize(
    ("language", "source", "expected"),
    [
        (
            "java",
            "package x;\n\npublic class Pager {\n  @Override\n  public void page(String team) {\n"
            "    send(team);\n  }\n\n  private static int count() { return 1; }\n}\n",
            ["public class Pager", "public class Pager > public void page(String team)"],
        ),
        (
            "rust",
            "use std::io;\n\npub struct Lag { n: u64 }\n\n"
            "impl Lag {\n    pub fn is_stuck(&self) -> bool {\n"
            '        self.n > 0\n    }\n}\n\nfn main() {\n    let s = "}";\n}\n',
            [
                "pub struct Lag",
                "impl Lag",
                "impl Lag > pub fn is_stuck(&self) -> bool",
                "fn main()",
            ],
        ),
        (
            "shell",
            '#!/bin/bash\nset -e\n# drain one node\ndrain() {\n  echo "it\'s { fine"\n}\n'
            'function restart {\n  echo hi\n}\nmain "$@"\n',
            ["drain()", "function restart"],
        ),
    ],
)
def test_other_brace_languages(language: str, source: str, expected: list[str]) -> None:
    got = sections(source, "file", language)
    for path in expected:
        assert f"file > {path}" in got or any(p.endswith(path) for p in got), (path, list(got))


def test_java_annotation_is_kept_with_its_method() -> None:
    source = "public class Pager {\n  @Override\n  public void page() {\n    x();\n  }\n}\n"
    got = sections(source, "Pager.java", "java")
    method = next(text for path, text in got.items() if path.endswith("public void page()"))
    assert method.lstrip().startswith("@Override")


def test_brace_depth_skips_strings_and_comments() -> None:
    lines = ['x = "{" + "}}";', "/* { */ y = 1; // }", "f() {", "  `${a} }`", "}"]
    starts, ends = brace_depths(lines, "javascript")
    assert starts == [0, 0, 0, 1, 1]
    assert ends == [0, 0, 1, 1, 0]


def test_yaml_toml_and_sql_sections() -> None:
    yaml = "apiVersion: v1\nkind: ConfigMap\n# who owns it\nmetadata:\n  name: x\ndata:\n  a: b\n"
    got = sections(yaml, "cm.yaml", "yaml")
    assert list(got) == ["cm.yaml", "cm.yaml > metadata:", "cm.yaml > data:"]
    assert got["cm.yaml > metadata:"].startswith("# who owns it")
    toml = 'title = "x"\n\n[tool.ruff]\nline-length = 100\n\n[[servers]]\nname = "a"\n'
    assert list(sections(toml, "p.toml", "toml")) == [
        "p.toml",
        "p.toml > [tool.ruff]",
        "p.toml > [[servers]]",
    ]
    sql = (
        "-- shipments\nCREATE TABLE IF NOT EXISTS tracking.shipments (\n  id bigint\n);\n"
        "create index i on t(x);\n"
    )
    got = sections(sql, "schema.sql", "sql")
    assert list(got) == [
        "schema.sql > CREATE TABLE IF NOT EXISTS tracking.shipments",
        "schema.sql > create index i",
    ]
    assert got["schema.sql > CREATE TABLE IF NOT EXISTS tracking.shipments"].startswith(
        "-- shipments"
    )


def test_long_functions_are_cut_between_lines() -> None:
    body = "\n".join(f"    step_{i} = run('step {i}')  # keep going" for i in range(200))
    source = f"def long_job():\n{body}\n"
    chunks = chunk_blocks(partition_code("job.py", source, "python"), ChunkingConfig(max_chars=800))
    assert len(chunks) > 5
    assert all(len(c.text) <= 800 for c in chunks)
    assert all(c.section_path == "job.py > def long_job()" for c in chunks)
    lines = [line for c in chunks for line in c.text.splitlines()]
    assert lines == source.rstrip("\n").splitlines(), "no line is cut or lost"


def test_minified_line_is_cut_at_max_chars() -> None:
    source = "var a=" + "1+" * 3000 + "1;"
    chunks = chunk_blocks(
        partition_code("min.js", source, "javascript"), ChunkingConfig(max_chars=1000)
    )
    assert "".join(c.text for c in chunks) == source
    assert max(len(c.text) for c in chunks) <= 1000


def test_long_titles_are_shortened() -> None:
    args = ", ".join(f"argument_number_{i}" for i in range(20))
    chunks = chunk_blocks(partition_code("m.py", f"def f({args}):\n    pass\n", "python"))
    assert len(chunks[0].section[-1]) <= 80 and chunks[0].section[-1].endswith("...")
