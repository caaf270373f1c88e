import faceindex


def test_build_info_reports_what_was_compiled() -> None:
    info = faceindex.build_info()
    assert info["version"] == "0.1.0"
    assert "scalar" in info["isas"]
    assert set(info["cpu"]) >= {"avx2", "avx512", "avx512_vnni", "avx512_bf16", "cores"}
    assert info["cpu"]["cores"] >= 1
    assert isinstance(info["cuda"]["compiled"], bool)
    assert isinstance(info["cuda"]["gpu_found"], bool)
    if not info["cuda"]["gpu_found"]:
        assert info["cuda"]["devices"] == []
