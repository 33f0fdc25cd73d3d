//! Linked-field writes: `update` with `link.Type.field` (e.g. `entity.Shot.sg_vfx_status` on a
//! Version) writes `field` on the record `link` points to, as a site does.

use super::{FieldWrite, entity_def, field_def};
use crate::db::Db;
use crate::error::ApiError;
use crate::schema::{DataType, EntityDef};
use crate::value::{link_of, normalize};

/// One resolved linked write: the record it lands on and the plain write there.
pub(super) struct LinkedWrite {
    /// The dotted name the client sent, the key of the value in the reply.
    pub(super) path: String,
    pub(super) ty: String,
    pub(super) id: i64,
    pub(super) write: FieldWrite,
}

/// Resolves and checks a dotted write on `def` record `id`, before anything is written.
/// Only single-hop paths (`link.Type.field`) through a single-entity link are writable;
/// the link must currently point at a live record of `Type`.
pub(super) fn resolve(
    db: &Db,
    method: &str,
    def: &EntityDef,
    id: i64,
    write: &FieldWrite,
) -> Result<LinkedWrite, ApiError> {
    let parts: Vec<&str> = write.name.split('.').collect();
    let [link_name, target_ty, target_field] = parts.as_slice() else {
        return Err(ApiError::invalid(format!(
            "API {method}() {}.{} can't be updated: only single-hop linked fields \
             (link_field.EntityType.field, such as entity.Shot.sg_status_list) are writable.",
            def.name, write.name
        )));
    };
    let link_field = field_def(def, method, link_name)?;
    if link_field.data_type != DataType::Entity {
        return Err(ApiError::invalid(format!(
            "API {method}() {}.{} can't be updated: {} is a {} field; linked fields are \
             written through single-entity fields only.",
            def.name,
            write.name,
            link_field.name,
            link_field.data_type.as_str()
        )));
    }
    let target_def = entity_def(&db.schema, method, target_ty)?;
    let field = field_def(target_def, method, target_field)?;
    if !field.editable {
        return Err(ApiError::invalid(format!(
            "API {method}() {}.{} is not editable.",
            target_def.name, field.name
        )));
    }
    normalize(db, method, target_ty, field, &write.value)?;
    let current = db
        .get(&def.name, id)
        .and_then(|e| e.fields.get(*link_name))
        .and_then(|v| link_of(v).map(|(t, i)| (t.to_owned(), i)));
    let target_id = match current {
        Some((ty, target_id))
            if ty == *target_ty && db.get(&ty, target_id).is_some_and(|e| !e.retired) =>
        {
            target_id
        }
        Some((ty, target_id)) => {
            return Err(ApiError::crud(format!(
                "API {method}() CRUD ERROR #5: {}.{}: {} id={id} has {link_name} = {ty} id={target_id}, \
                 not a record of type {target_ty}; there is nothing to update.",
                def.name, write.name, def.name
            )));
        }
        None => {
            return Err(ApiError::crud(format!(
                "API {method}() CRUD ERROR #5: {}.{}: {} id={id} has no {link_name}; \
                 there is no {target_ty} to update.",
                def.name, write.name, def.name
            )));
        }
    };
    Ok(LinkedWrite {
        path: write.name.clone(),
        ty: (*target_ty).to_owned(),
        id: target_id,
        write: FieldWrite {
            name: (*target_field).to_owned(),
            value: write.value.clone(),
            mode: write.mode,
        },
    })
}
