"""Milvus's own standalone server (the C++ engine, knowhere, embedded etcd and local storage),
started from PyPI's `milvus` package for the tests, on free ports of 127.0.0.1.

Milvus 2.3's gRPC services listen on every interface whatever their `ip` says (only the
embedded etcd takes a listen address); the ports are free ones picked here, and the server is
stopped with the test session."""

from __future__ import annotations

from pathlib import Path

from .conftest import free_port


def start(data: Path):
    """A started `milvus.MilvusServer` keeping its files in `data`; `.listen_port` is its
    gRPC port. Stop it with `.stop()`."""
    from milvus import MilvusServer, MilvusServerConfig

    client, peer = free_port(), free_port()
    etcd = data / "etcd.yaml"
    data.mkdir(parents=True, exist_ok=True)
    # The embedded etcd on loopback and free ports (its defaults are 2379 and 2380).
    etcd.write_text(
        f"name: milvus-test\n"
        f"listen-client-urls: http://127.0.0.1:{client}\n"
        f"advertise-client-urls: http://127.0.0.1:{client}\n"
        f"listen-peer-urls: http://127.0.0.1:{peer}\n"
        f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
        f"initial-cluster: milvus-test=http://127.0.0.1:{peer}\n")

    class Config(MilvusServerConfig):
        def write_config(self) -> None:
            super().write_config()
            path = Path(self.base_data_dir) / "configs" / "milvus.yaml"
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n",
                                         1), encoding="utf-8")

    config = Config(data_dir=str(data))
    for key in [k for k in config.configurable_items if k.endswith("_port")]:
        config.set(key, free_port())
    config.set("etcd_port", client)
    server = MilvusServer(config)
    server.start()  # waits for its health check (about 10 s here, the first time 30 s)
    return server
