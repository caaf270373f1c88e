"""`faceindex collection create|list|describe|delete`: the collections of a home folder."""

from __future__ import annotations

import argparse

from faceindex.cli.common import OptionGroups, Output, add_command, make_engine, open_collections, warn_if_exposed
from faceindex.cli.results import description_lines
from faceindex.errors import EXIT_OK


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups
                 ) -> dict[str, argparse.ArgumentParser]:
    """Register `collection` and its actions; the parsers by action (the Ray options extend them)."""
    collection = commands.add_parser("collection", help="create, list, describe, delete collections")
    actions = collection.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = add_command(actions, "create", cmd_collection_create, "create a collection bound to a model pack",
                         [groups.common, groups.engine])
    create.add_argument("collection_id")
    listing = add_command(actions, "list", cmd_collection_list, "list the collections", [groups.common])
    describe = add_command(actions, "describe", cmd_collection_describe, "faces, users, pack and sizes of a collection",
                           [groups.common])
    describe.add_argument("collection_id")
    delete = add_command(actions, "delete", cmd_collection_delete, "delete a collection and all its files",
                         [groups.common])
    delete.add_argument("collection_id")
    return {"create": create, "list": listing, "describe": describe, "delete": delete}


def cmd_collection_create(args: argparse.Namespace, out: Output) -> int:
    engine = make_engine(args)
    with open_collections(args).create_collection(args.collection_id, engine=engine) as collection:
        description = open_collections(args).describe_collection(collection.collection_id)
    out.emit(description, lambda: [f"created {'encrypted ' if description.encrypted else ''}collection "
                                   f"{description.collection_id} "
                                   f"(pack {description.pack}) at {description.path}"])
    return EXIT_OK


def cmd_collection_list(args: argparse.Namespace, out: Output) -> int:
    names = open_collections(args).list_collections()
    out.emit({"collections": names}, lambda: names or ["(no collections)"])
    return EXIT_OK


def cmd_collection_describe(args: argparse.Namespace, out: Output) -> int:
    warn_if_exposed(args, args.collection_id)
    d = open_collections(args).describe_collection(args.collection_id)
    out.emit(d, lambda: description_lines(d))
    return EXIT_OK


def cmd_collection_delete(args: argparse.Namespace, out: Output) -> int:
    open_collections(args).delete_collection(args.collection_id)
    out.emit({"deleted": args.collection_id}, lambda: [f"deleted collection {args.collection_id}"])
    return EXIT_OK
