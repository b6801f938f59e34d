//! The filesystem an image's layers stack up to, what each layer changed, and the space the
//! stacking wastes.
//!
//! Efficiency is computed as dive computes it: every path gets one entry per layer that writes
//! it (a file, link or special file, with its size; a deletion counts as a copy of size 0), and
//! the score is the sum of each path's smallest copy over the sum of all copies. Wasted bytes are
//! the difference. One departure from dive: deleting a directory counts every file under it as
//! deleted, where dive counts the directory once and so misses what it held.

use std::collections::{BTreeMap, HashMap};

use crate::image::archive::{Change, Image};
use crate::image::entry::{Header, Kind};

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) header: Header,
    /// Index of the layer that wrote it.
    pub(crate) layer: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LayerStats {
    /// Content bytes of the files the layer writes.
    pub(crate) bytes: u64,
    pub(crate) added: u64,
    pub(crate) changed: u64,
    pub(crate) removed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waste {
    pub(crate) path: String,
    pub(crate) copies: u32,
    pub(crate) total_bytes: u64,
    pub(crate) wasted_bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    /// The final filesystem, directories included, by path.
    pub(crate) nodes: BTreeMap<String, Node>,
    pub(crate) layers: Vec<LayerStats>,
    /// Sum of every copy of every path, and of the smallest copy of each.
    pub(crate) all_copies_bytes: u64,
    pub(crate) smallest_copies_bytes: u64,
    /// Paths written more than once or deleted, most wasted first.
    pub(crate) waste: Vec<Waste>,
    /// Captured files (package databases) still present at the top: path → contents.
    pub(crate) captured: BTreeMap<String, Vec<u8>>,
}

impl Tree {
    pub(crate) fn efficiency(&self) -> f64 {
        if self.all_copies_bytes == 0 {
            1.0
        } else {
            self.smallest_copies_bytes as f64 / self.all_copies_bytes as f64
        }
    }

    pub(crate) fn wasted_bytes(&self) -> u64 {
        self.all_copies_bytes - self.smallest_copies_bytes
    }

    /// Regular files, links and special files of the final filesystem.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes
            .iter()
            .filter(|(_, node)| node.header.kind != Kind::Directory)
    }

    pub(crate) fn file_count(&self) -> u64 {
        self.nodes
            .values()
            .filter(|node| node.header.kind == Kind::File)
            .count() as u64
    }

    /// Whether `path` exists at the top, as anything but a directory.
    #[cfg(test)]
    pub(crate) fn has_entry(&self, path: &str) -> bool {
        self.nodes
            .get(path)
            .is_some_and(|node| node.header.kind != Kind::Directory)
    }
}

#[derive(Default)]
struct Copies {
    total: u64,
    smallest: u64,
    count: u32,
}

impl Copies {
    fn add(&mut self, size: u64) {
        self.smallest = if self.count == 0 {
            size
        } else {
            self.smallest.min(size)
        };
        self.total += size;
        self.count += 1;
    }
}

pub(crate) fn stack(image: &Image) -> Tree {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut copies: HashMap<String, Copies> = HashMap::new();
    let mut layers = Vec::with_capacity(image.layers.len());
    let mut captured: BTreeMap<String, (usize, Vec<u8>)> = BTreeMap::new();
    for (index, layer) in image.layers.iter().enumerate() {
        let mut stats = LayerStats::default();
        // Whiteouts apply to the layers below, wherever they sit in this layer's tar.
        for change in &layer.changes {
            let (path, itself) = match change {
                Change::Remove(path) => (path, true),
                Change::Opaque(path) => (path, false),
                Change::Add(_) => continue,
            };
            for gone in remove(&mut nodes, path, itself) {
                if gone.header.kind != Kind::Directory {
                    stats.removed += 1;
                    copies.entry(gone.header.path).or_default().add(0);
                }
            }
        }
        for change in &layer.changes {
            let Change::Add(header) = change else {
                continue;
            };
            // A file or link written over a lower directory replaces it and all it held (the
            // layer carries no whiteouts for those).
            if header.kind != Kind::Directory {
                for gone in remove(&mut nodes, &header.path, false) {
                    if gone.header.kind != Kind::Directory {
                        stats.removed += 1;
                        copies.entry(gone.header.path).or_default().add(0);
                    }
                }
            }
            let previous = nodes.insert(
                header.path.clone(),
                Node {
                    header: header.clone(),
                    layer: index,
                },
            );
            if header.kind == Kind::Directory {
                continue;
            }
            stats.bytes += header.size;
            copies
                .entry(header.path.clone())
                .or_default()
                .add(header.size);
            match previous {
                Some(_) => stats.changed += 1,
                None => stats.added += 1,
            }
        }
        for (path, data) in &layer.captured {
            captured.insert(path.clone(), (index, data.clone()));
        }
        layers.push(stats);
    }
    let mut waste: Vec<Waste> = copies
        .iter()
        .filter(|(_, c)| c.count > 1)
        .map(|(path, c)| Waste {
            path: path.clone(),
            copies: c.count,
            total_bytes: c.total,
            wasted_bytes: c.total - c.smallest,
        })
        .filter(|w| w.wasted_bytes > 0)
        .collect();
    waste.sort_by(|a, b| {
        b.wasted_bytes
            .cmp(&a.wasted_bytes)
            .then(a.path.cmp(&b.path))
    });
    let captured = captured
        .into_iter()
        .filter(|(path, (layer, _))| nodes.get(path).is_some_and(|n| n.layer == *layer))
        .map(|(path, (_, data))| (path, data))
        .collect();
    Tree {
        nodes,
        layers,
        all_copies_bytes: copies.values().map(|c| c.total).sum(),
        smallest_copies_bytes: copies.values().map(|c| c.smallest).sum(),
        waste,
        captured,
    }
}

/// Removes what is under `path` (and `path` itself when `itself`), returning what went.
fn remove(nodes: &mut BTreeMap<String, Node>, path: &str, itself: bool) -> Vec<Node> {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut keys: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .map(|(key, _)| key.clone())
        .collect();
    if itself && nodes.contains_key(path) {
        keys.push(path.to_owned());
    }
    keys.iter().filter_map(|key| nodes.remove(key)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::archive::Layer;

    fn file(path: &str, size: u64) -> Change {
        Change::Add(Header {
            path: path.to_owned(),
            kind: Kind::File,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            link: String::new(),
        })
    }

    fn dir(path: &str) -> Change {
        Change::Add(Header {
            kind: Kind::Directory,
            size: 0,
            ..match file(path, 0) {
                Change::Add(h) => h,
                _ => unreachable!(),
            }
        })
    }

    fn image(layers: Vec<Vec<Change>>) -> Image {
        Image {
            layers: layers
                .into_iter()
                .map(|changes| Layer {
                    changes,
                    ..Layer::default()
                })
                .collect(),
            ..Image::default()
        }
    }

    #[test]
    fn duplicates_and_deletions_are_waste_as_dive_counts_it() {
        let tree = stack(&image(vec![
            vec![dir("etc"), file("etc/big", 1000), file("etc/keep", 10)],
            // Rewritten smaller: the 1000-byte copy is waste.
            vec![file("etc/big", 400)],
            // Deleted: the 400 left is waste too.
            vec![Change::Remove("etc/big".to_owned())],
        ]));
        assert_eq!(tree.all_copies_bytes, 1410);
        assert_eq!(tree.smallest_copies_bytes, 10);
        assert_eq!(tree.wasted_bytes(), 1400);
        assert!((tree.efficiency() - 10.0 / 1410.0).abs() < 1e-12);
        assert_eq!(
            tree.layers,
            vec![
                LayerStats {
                    bytes: 1010,
                    added: 2,
                    changed: 0,
                    removed: 0
                },
                LayerStats {
                    bytes: 400,
                    added: 0,
                    changed: 1,
                    removed: 0
                },
                LayerStats {
                    bytes: 0,
                    added: 0,
                    changed: 0,
                    removed: 1
                },
            ]
        );
        assert_eq!(
            tree.waste,
            vec![Waste {
                path: "etc/big".to_owned(),
                copies: 3,
                total_bytes: 1400,
                wasted_bytes: 1400
            }]
        );
        assert!(!tree.has_entry("etc/big") && tree.has_entry("etc/keep"));
    }

    #[test]
    fn a_deleted_directory_removes_everything_under_it() {
        let tree = stack(&image(vec![
            vec![
                dir("src"),
                file("src/a", 5),
                file("src/b", 7),
                file("srcx", 1),
            ],
            vec![Change::Remove("src".to_owned())],
        ]));
        assert_eq!(tree.layers[1].removed, 2);
        assert_eq!(tree.wasted_bytes(), 12);
        assert!(tree.has_entry("srcx") && !tree.nodes.contains_key("src"));
    }

    #[test]
    fn a_link_over_a_directory_replaces_what_it_held() {
        let symlink = Change::Add(Header {
            kind: Kind::Symlink,
            link: "/usr/bin".to_owned(),
            ..match file("opt/tool", 0) {
                Change::Add(h) => h,
                _ => unreachable!(),
            }
        });
        let tree = stack(&image(vec![
            vec![dir("opt/tool"), file("opt/tool/gcc", 9)],
            vec![symlink],
        ]));
        assert!(!tree.nodes.contains_key("opt/tool/gcc"));
        assert_eq!(tree.layers[1].removed, 1);
        assert_eq!(tree.wasted_bytes(), 9);
    }

    #[test]
    fn an_opaque_directory_hides_lower_contents_but_keeps_its_own() {
        let tree = stack(&image(vec![
            vec![dir("d"), file("d/old", 3)],
            // The marker may come after the layer's own files: it still only hides lower ones.
            vec![dir("d"), file("d/new", 4), Change::Opaque("d".to_owned())],
        ]));
        assert!(tree.has_entry("d/new") && !tree.has_entry("d/old"));
        assert_eq!(tree.file_count(), 1);
        assert_eq!(tree.layers[1].removed, 1);
    }
}
