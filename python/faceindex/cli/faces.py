"""`faceindex faces list|delete`: the stored faces of a collection."""

from __future__ import annotations

import argparse

from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, box, open_collection
from faceindex.errors import EXIT_OK, EXIT_PARTIAL


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    faces = commands.add_parser("faces", help="list or delete stored faces")
    actions = faces.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add_command(actions, "list", cmd_faces_list, "list stored faces, in the order they were indexed",
                    [groups.common])
    p.add_argument("collection")
    p.add_argument("--max-results", type=numbers.positive, default=1000)
    p.add_argument("--next-token")
    p.add_argument("--user", help="only this user's faces")
    p.add_argument("--external-image-id", help="only the faces of this image")
    p = add_command(actions, "delete", cmd_faces_delete, "erase faces (database rows wiped, index cache rewritten)",
                    [groups.common])
    p.add_argument("collection")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")


def cmd_faces_list(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        page = collection.list_faces(args.max_results, args.next_token, user_id=args.user,
                                     external_image_id=args.external_image_id)
    out.emit(page, lambda: [f"{r.face_id}  {r.external_image_id or '-'}  {box(r.face.bbox)}  "
                            f"confidence {r.face.score:.3f}" + (f"  user {r.user_id}" if r.user_id else "")
                            for r in page.faces] + ([f"more: --next-token {page.next_token}"] if page.next_token else []))
    return EXIT_OK


def cmd_faces_delete(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        result = collection.delete_faces(args.face_ids)
    out.emit(result, lambda: [f"deleted {f}" for f in result.deleted_faces] + [
        f"not deleted {u.face_id}: {'+'.join(u.reasons)}" for u in result.unsuccessful_face_deletions])
    return EXIT_PARTIAL if result.unsuccessful_face_deletions else EXIT_OK
