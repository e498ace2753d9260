"""Fixtures of the reliability tests: the tiny valid bundle, copied fresh for each test."""

import shutil

import pytest

from tests.pipelines.bundle_factory import write_bundle


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return write_bundle(tmp_path_factory.mktemp("template") / "bundle")


@pytest.fixture
def bundle(template, tmp_path):
    return shutil.copytree(template, tmp_path / "bundle")
