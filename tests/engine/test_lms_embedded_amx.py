"""The embedded engine avoids llama.cpp's AMX buffers, which crash on Sapphire Rapids class CPUs."""

from __future__ import annotations

import types

import llama_cpp
import llama_cpp.llama as llama_module

from engine.lms.embedded import _without_amx_buffers, has_amx

AMX_INFO = b"CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 | "
PLAIN_INFO = b"CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 | "


def fake_llama_cpp(info: bytes):
    return types.SimpleNamespace(llama_print_system_info=lambda: info)


def test_amx_is_read_from_llama_cpp_system_info():
    assert has_amx(AMX_INFO) and not has_amx(PLAIN_INFO)


def test_with_amx_the_model_loads_without_extra_buffer_types_and_the_defaults_come_back():
    original = llama_module.llama_cpp.llama_model_default_params
    assert original().use_extra_bufts  # llama.cpp's own default, which picks AMX where it can
    with _without_amx_buffers(fake_llama_cpp(AMX_INFO)):
        assert llama_module.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert llama_module.llama_cpp.llama_model_default_params is original


def test_without_amx_nothing_is_patched():
    original = llama_module.llama_cpp.llama_model_default_params
    with _without_amx_buffers(fake_llama_cpp(PLAIN_INFO)):
        assert llama_module.llama_cpp.llama_model_default_params is original
        assert llama_cpp.llama_model_default_params().use_extra_bufts


def test_the_defaults_come_back_when_loading_fails():
    original = llama_module.llama_cpp.llama_model_default_params
    try:
        with _without_amx_buffers(fake_llama_cpp(AMX_INFO)):
            raise ValueError("bad file")
    except ValueError:
        pass
    assert llama_module.llama_cpp.llama_model_default_params is original
