"""`faceindex users create|delete|list|associate|disassociate|search`: the users of a collection."""

from __future__ import annotations

import argparse
from typing import Any

from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, open_collection, plural
from faceindex.cli.results import threshold_line
from faceindex.cli.search import asked, criteria, default_choice
from faceindex.errors import EXIT_OK, EXIT_PARTIAL


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    users = commands.add_parser("users", help="create, delete, list, associate, disassociate and search users")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = [groups.common]
    p = add_command(actions, "create", cmd_users_create, "create a user", common)
    p.add_argument("collection")
    p.add_argument("user_id")
    p = add_command(actions, "delete", cmd_users_delete, "delete a user and erase their faces", common)
    p.add_argument("collection")
    p.add_argument("user_id")
    p.add_argument("--keep-faces", action="store_true", help="keep the user's faces, unassociated")
    p = add_command(actions, "list", cmd_users_list, "list users", common)
    p.add_argument("collection")
    p.add_argument("--max-results", type=numbers.positive, default=100)
    p.add_argument("--next-token")
    p = add_command(actions, "associate", cmd_users_associate, "make faces a user's", [groups.common, groups.decision])
    p.add_argument("--purpose", help="written to the audit log")
    p.add_argument("--reference", help="written to the audit log")
    p.add_argument("collection")
    p.add_argument("user_id")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
    p.add_argument("--threshold", type=numbers.threshold,
                   help="cosine similarity a face must reach against the user's faces (default: by error rate, "
                   "FMR 1e-4 per comparison)")
    p = add_command(actions, "disassociate", cmd_users_disassociate, "take faces from a user", common)
    p.add_argument("collection")
    p.add_argument("user_id")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
    p = add_command(actions, "search", cmd_users_search, "users like a user, a stored face or the face in an image",
                    [groups.common, groups.searching])
    p.add_argument("collection")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--user")
    which.add_argument("--face")
    which.add_argument("--image")
    p.add_argument("--max-users", type=numbers.positive, default=10)
    p.add_argument("--threshold", type=numbers.threshold, help="cosine similarity (default: by error rate, as search)")


def cmd_users_create(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        collection.create_user(args.user_id)
    out.emit({"created": args.user_id}, lambda: [f"created user {args.user_id}"])
    return EXIT_OK


def cmd_users_delete(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        result = collection.delete_user(args.user_id, delete_faces=not args.keep_faces)
    out.emit(result, lambda: [f"deleted user {result.user_id}: {plural(len(result.deleted_faces), 'face')} erased, "
                              f"{len(result.disassociated_faces):,} kept"])
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        page = collection.list_users(args.max_results, args.next_token)
    out.emit(page, lambda: [f"{u.user_id}  {plural(u.face_count, 'face')}" for u in page.users] + (
        [f"more: --next-token {page.next_token}"] if page.next_token else []))
    return EXIT_OK


def cmd_users_associate(args: argparse.Namespace, out: Output) -> int:
    from faceindex import thresholds

    with open_collection(args) as collection:
        result = collection.associate_faces(args.user_id, args.face_ids, args.threshold, max_fmr=args.max_fmr,
                                            purpose=args.purpose, reference=args.reference)
        given = args.threshold is not None or args.max_fmr is not None
        default = thresholds.for_comparison(collection.pack) if given else None

    def failure(u: Any) -> str:
        why = "+".join(u.reasons)
        if u.user_id is not None:
            why += f" (user {u.user_id})"
        if u.similarity is not None:
            why += f" (similarity {u.similarity:.3f} to the user's faces, below {result.threshold:.4f})"
        return f"not associated {u.face_id}: {why}"

    out.emit(result, lambda: [f"associated {f}" for f in result.associated_faces]
             + [failure(u) for u in result.unsuccessful_face_associations]
             + ["a face joins a user who has faces when it reaches this against one of them: "
                + threshold_line(result, given, default)])
    return EXIT_PARTIAL if result.unsuccessful_face_associations else EXIT_OK


def cmd_users_disassociate(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        result = collection.disassociate_faces(args.user_id, args.face_ids)
    out.emit(result, lambda: [f"disassociated {f}" for f in result.disassociated_faces] + [
        f"not disassociated {u.face_id}: {'+'.join(u.reasons)}" for u in result.unsuccessful_face_disassociations])
    return EXIT_PARTIAL if result.unsuccessful_face_disassociations else EXIT_OK


def cmd_users_search(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        if args.image is not None:
            result = collection.search_users_by_image(args.image, args.max_users, args.threshold, **criteria(args))
        else:
            result = collection.search_users(user_id=args.user, face_id=args.face, max_users=args.max_users,
                                             threshold=args.threshold, **criteria(args))
        default = default_choice(args, collection.pack, result)
    out.emit(result, lambda: [threshold_line(result, asked(args), default)] + (
        [f"  {m.similarity:.3f}  {m.user.user_id}  (face {m.face.face_id})" for m in result.user_matches]
        or ["  no match"]))
    return EXIT_OK
