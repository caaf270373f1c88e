"""`faceindex users create|delete|list|associate|disassociate|search`: the users of a collection."""

from __future__ import annotations

import argparse

from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, open_collection
from faceindex.cli.results import threshold_line
from faceindex.cli.search import criteria
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
    p.add_argument("--threshold", type=numbers.threshold, help="user match threshold (default: the pack's)")
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
    p.add_argument("--threshold", type=numbers.threshold)


def cmd_users_create(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        collection.create_user(args.user_id)
    out.emit({"created": args.user_id}, lambda: [f"created user {args.user_id}"])
    return EXIT_OK


def cmd_users_delete(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        result = collection.delete_user(args.user_id, delete_faces=not args.keep_faces)
    out.emit(result, lambda: [f"deleted user {result.user_id}: {len(result.deleted_faces)} faces erased, "
                              f"{len(result.disassociated_faces)} kept"])
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        page = collection.list_users(args.max_results, args.next_token)
    out.emit(page, lambda: [f"{u.user_id}  {u.face_count} faces" for u in page.users] + (
        [f"more: --next-token {page.next_token}"] if page.next_token else []))
    return EXIT_OK


def cmd_users_associate(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        result = collection.associate_faces(args.user_id, args.face_ids, args.threshold, max_fmr=args.max_fmr,
                                            purpose=args.purpose, reference=args.reference)
    out.emit(result, lambda: [f"associated {f}" for f in result.associated_faces] + [
        f"not associated {u.face_id}: {'+'.join(u.reasons)}" for u in result.unsuccessful_face_associations])
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
    out.emit(result, lambda: [threshold_line(result)] + (
        [f"  {m.similarity:.3f}  {m.user.user_id}  (face {m.face.face_id})" for m in result.user_matches]
        or ["  no match"]))
    return EXIT_OK
