// /api/lists: image lists (HEPiX) that grid sites subscribe to. Anyone may read them — they are
// published documents, signed at image.list and plain at image.json; their owners, the members of
// their group and admins change them.
import type { FastifyPluginAsync } from "fastify";
import type { Storage } from "../../catalog/housekeeping.js";
import * as lists from "../../catalog/image-lists.js";
import { USER_NAME } from "../../catalog/names.js";
import { authorizeOrThrow } from "../../policy/authorize.js";
import { smimeSign, type Signer } from "../../x509/smime.js";
import { actorOf } from "../app.js";
import { imageListDocument, listJson } from "../representations.js";
import { list, nullable, object, optional, string, timestamp } from "../schema.js";

const LIST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const fields = {
  title: string({ min: 1, max: 256 }),
  description: optional(string({ max: 4096 })),
  expires: optional(timestamp("when subscribers stop trusting the list (dc:date:expires); default 28 days from now")),
  group: optional(nullable(string({ pattern: USER_NAME }), "a group whose members may change the list too")),
  images: optional(list(string({ pattern: lists.ENTRY, patternHelp: "OWNER/IMAGE[:HYPERVISOR][@VERSION]" }), "the files listed: OWNER/IMAGE[:HYPERVISOR][@VERSION], pinned to VERSION or following the current one")),
};
export const createListBody = object({ name: string({ pattern: LIST_NAME, patternHelp: "1-64 letters, digits, '.', '_' or '-'" }), ...fields });
export const modifyListBody = object({ ...fields, title: optional(fields.title) });

type L = { Params: { owner: string; name: string } };

export const listRoutes: FastifyPluginAsync<{ storage: Storage; signer: Signer }> = async (app, { storage, signer }) => {
  const open = { anonymous: true };
  app.get("/api/lists", { config: { ...open, doc: { summary: "Image lists published here" } } }, async (req) =>
    (await lists.listLists(storage.db)).map((l) => ({ owner: l.ownerName, name: l.name, title: l.title, identifier: l.identifier, version: l.version, expires: l.expires, url: `${req.urls.base}/api/lists/${l.ownerName}/${l.name}` })),
  );

  app.post("/api/lists", { config: { doc: { summary: "Publish an image list of public images (image_create)", body: createListBody }, precheck: (req) => authorizeOrThrow(actorOf(req), { do: "list.create" }) } }, async (req, reply) => {
    const b = createListBody.parse(req.body);
    const v = await lists.createList(storage, actorOf(req), b.name, { ...b, expires: b.expires ?? undefined });
    reply.code(201).header("location", `${req.urls.base}/api/lists/${v.ownerName}/${v.name}`);
    return listJson(req.urls, v);
  });

  app.get<L>("/api/lists/:owner/:name", { config: { ...open, doc: { summary: "An image list: its fields, and what each entry lists now" } } }, async (req) => listJson(req.urls, await lists.getList(storage, req.params.owner, req.params.name)));

  app.post<L>("/api/lists/:owner/:name", { config: { doc: { summary: "Change an image list (its owner, its group's members, admins); `images` replaces the entries", body: modifyListBody } } }, async (req) => {
    const b = modifyListBody.parse(req.body);
    return listJson(req.urls, await lists.modifyList(storage, actorOf(req), req.params.owner, req.params.name, { ...b, expires: b.expires ?? undefined }));
  });

  app.delete<L>("/api/lists/:owner/:name", { config: { doc: { summary: "Withdraw an image list" } } }, async (req) => {
    await lists.deleteList(storage.db, actorOf(req), req.params.owner, req.params.name);
    return { deleted: `${req.urls.base}/api/lists/${req.params.owner}/${req.params.name}` };
  });

  app.get<L>("/api/lists/:owner/:name/image.json", { config: { ...open, doc: { summary: "The list as HEPiX image-list JSON, unsigned" } } }, async (req, reply) => {
    const doc = imageListDocument(req.urls, await lists.document(storage, req.params.owner, req.params.name), signer);
    return reply.type("application/json").header("cache-control", "no-cache").send(JSON.stringify(doc, null, 4) + "\n");
  });

  app.get<L>("/api/lists/:owner/:name/image.list", { config: { ...open, doc: { summary: "The list signed as S/MIME (multipart/signed), what vmcatcher and cloudkeeper subscribe to" } } }, async (req, reply) => {
    const doc = imageListDocument(req.urls, await lists.document(storage, req.params.owner, req.params.name), signer);
    return reply.type("text/plain; charset=utf-8").header("cache-control", "no-cache").send(smimeSign(JSON.stringify(doc, null, 4) + "\n", signer));
  });
};
