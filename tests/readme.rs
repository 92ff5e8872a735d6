//! The README's complete configurations (fenced as ```` ```yaml complete ````)
//! pass `fairway -t` as they are written.

mod common;

use common::{repo_root, run, temp_dir};

#[test]
fn every_complete_config_in_the_readme_is_valid() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let dir = temp_dir("readme");
    let mut checked = 0;
    let mut lines = readme.lines().enumerate();
    while let Some((no, line)) = lines.next() {
        if line.trim_end() != "```yaml complete" {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let path = dir.join(format!("readme-{}.yaml", no + 1));
        std::fs::write(&path, block.join("\n")).unwrap();
        let out = run(&["-t", "-c", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "README.md line {}: the config fails `fairway -t`:\n{}",
            no + 1,
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "only {checked} complete configs found in README.md"
    );
}
